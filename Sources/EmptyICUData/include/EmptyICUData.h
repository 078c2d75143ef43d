// EmptyICUData has no interface: its one object defines ICU's data entry point (see empty_icu_data.c).
