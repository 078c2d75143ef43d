// An empty ICU data package, linked into the release binary in place of the toolchain's 34 MB one.
//
// On Linux, Foundation carries ICU (as _FoundationICU) with all of its locale data compiled in as
// one symbol, `icudt<major>_dat`. pylon needs none of it: it formats times as RFC 3339 and amounts
// by hand, and never asks for a locale's calendar, collation, number or date format. But GRDB uses
// Foundation's classes, and through CoreFoundation's string code a statically linked binary ends
// up referring to ICU's data loader, which refers to that symbol: 34 of the binary's 80 MB.
//
// ICU lets an application supply its own data under that entry point (udata.h, "linked-in data").
// Defining it here, in an object the linker sees before the toolchain's archives, keeps the
// archive's copy out. The package below is valid and lists no items, so ICU answers any lookup
// with U_MISSING_RESOURCE_ERROR, as with a data file that lacks an item; what Foundation does then
// is its own fallback (Locale and Calendar fall back to root and Gregorian, and format numbers
// plainly). One class has no fallback: DateFormatter stops the process. pylon does not use it, nor
// binds a Date to GRDB (whose Date storage uses one); the store writes times as RFC 3339 text.
//
// In a dynamically linked build (debug, tests) this symbol is unused: the shared library binds its
// own data. scripts/build-release.sh checks that the release binary got this package and not the
// toolchain's (the symbol's name changes with ICU's major version: 76 in Swift 6.2 and 6.3).
#include <stdint.h>

struct EmptyICUDataPackage {
    // DataHeader (ICU udata.h): the header's size, then the magic bytes 0xda 0x27.
    uint16_t headerSize;
    uint8_t magic1, magic2;
    // UDataInfo: little-endian, ASCII family, 2-byte UChar; format "CmnD" 1, data version 76.
    uint16_t infoSize, reservedWord;
    uint8_t isBigEndian, charsetFamily, sizeofUChar, reservedByte;
    uint8_t dataFormat[4], formatVersion[4], dataVersion[4];
    uint8_t padding[8];
    // The table of contents that follows the header: no items.
    uint32_t itemCount;
};

_Static_assert(sizeof(struct EmptyICUDataPackage) == 36, "the header is 32 bytes, then the item count");

__attribute__((used, aligned(16)))
const struct EmptyICUDataPackage icudt76_dat = {
    .headerSize = 32, .magic1 = 0xda, .magic2 = 0x27,
    .infoSize = 20, .reservedWord = 0,
    .isBigEndian = 0, .charsetFamily = 0, .sizeofUChar = 2, .reservedByte = 0,
    .dataFormat = {'C', 'm', 'n', 'D'}, .formatVersion = {1, 0, 0, 0}, .dataVersion = {76, 0, 0, 0},
    .padding = {0},
    .itemCount = 0,
};
