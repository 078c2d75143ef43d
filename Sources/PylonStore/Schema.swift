import GRDB

/// The schema of pylon.db as a timeline of migrations.
///
/// A migration never changes once shipped (GRDB `Migrations.md`, "Good Practices"): a later schema
/// is a new migration appended below, and each one speaks SQL only, never this module's types, so
/// its text stays what it was when it shipped.
///
/// Times are RFC 3339 text in UTC with milliseconds (``Timestamp``), ids and keys lowercase hex,
/// money integer millisatoshis, JSON columns compact text checked with `json_valid`.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Fresh tables only: foreign keys stay on and are checked statement by statement.
        migrator.registerMigration("v1", foreignKeyChecks: .immediate) { db in
            try db.execute(sql: v1)
        }
        // Rebuilds a table: foreign keys off while it is swapped, checked before the commit.
        migrator.registerMigration("v2", foreignKeyChecks: .deferred) { db in
            try db.execute(sql: v2)
        }
        migrator.registerMigration("v3", foreignKeyChecks: .deferred) { db in
            try db.execute(sql: v3)
        }
        migrator.registerMigration("v4", foreignKeyChecks: .immediate) { db in
            try db.execute(sql: v4)
        }
        migrator.registerMigration("v5", foreignKeyChecks: .immediate) { db in
            try db.execute(sql: v5)
        }
        return migrator
    }

    static let v1 = """
        -- The journal (SPEC §7, §12): everything the daemon decided, in order. `seq` is
        -- AUTOINCREMENT so it is strictly increasing and never reused, even after the last entry
        -- would be gone; the triggers keep it append-only.
        CREATE TABLE journal (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL CHECK (length(time) = 24),
            kind TEXT NOT NULL CHECK (length(kind) > 0),
            data TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object')
        );
        CREATE TRIGGER journal_append_only_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
        CREATE TRIGGER journal_append_only_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

        -- Every request event id ever seen, admitted or not: dedupe that survives restarts.
        CREATE TABLE processed_requests (
            event_id TEXT PRIMARY KEY NOT NULL CHECK (length(event_id) = 64),
            outcome TEXT NOT NULL CHECK (length(outcome) > 0),
            seen_at TEXT NOT NULL
        ) WITHOUT ROWID;

        -- One row per NIP-90 request this node admitted. `arrival`, the seq of the job's
        -- job.admitted entry, is the rowid: rows append in arrival order and the request id needs
        -- the only other unique index.
        CREATE TABLE jobs (
            arrival INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE REFERENCES processed_requests(event_id),
            kind INTEGER NOT NULL CHECK (kind BETWEEN 5000 AND 5999),
            customer TEXT NOT NULL CHECK (length(customer) = 64),
            status TEXT NOT NULL
                CHECK (status IN ('queued', 'awaiting_payment', 'running', 'completed', 'failed', 'cancelled')),
            requested_model TEXT,
            model TEXT,
            backend TEXT,
            input TEXT NOT NULL,
            input_bytes INTEGER NOT NULL CHECK (input_bytes >= 0),
            params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
            bid_msats INTEGER CHECK (bid_msats >= 0),
            price_msats INTEGER NOT NULL DEFAULT 0 CHECK (price_msats >= 0),
            encrypted INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
            request TEXT NOT NULL CHECK (json_valid(request)),
            relays TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(relays)),
            priority INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            admitted_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            prompt_tokens INTEGER CHECK (prompt_tokens >= 0),
            completion_tokens INTEGER CHECK (completion_tokens >= 0),
            output_bytes INTEGER CHECK (output_bytes >= 0),
            duration_ms INTEGER CHECK (duration_ms >= 0),
            result_event_id TEXT CHECK (result_event_id IS NULL OR length(result_event_id) = 64),
            error TEXT,
            CHECK (status NOT IN ('running', 'completed') OR (started_at IS NOT NULL AND model IS NOT NULL AND backend IS NOT NULL)),
            CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
            CHECK (status <> 'completed' OR result_event_id IS NOT NULL),
            CHECK (status NOT IN ('failed', 'cancelled') OR error IS NOT NULL)
        );
        CREATE INDEX jobs_status ON jobs(status, arrival);

        -- Money received. A payment hash counts once.
        CREATE TABLE earnings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT REFERENCES jobs(id),
            amount_msats INTEGER NOT NULL CHECK (amount_msats > 0),
            source TEXT NOT NULL CHECK (source IN ('job', 'zap', 'tip', 'other')),
            payment_hash TEXT UNIQUE CHECK (payment_hash IS NULL OR length(payment_hash) = 64),
            received_at TEXT NOT NULL,
            CHECK (source <> 'job' OR job_id IS NOT NULL)
        );
        CREATE INDEX earnings_received_at ON earnings(received_at);
        CREATE INDEX earnings_job ON earnings(job_id);

        -- Invoices this node issued (NIP-47 make_invoice).
        CREATE TABLE invoices (
            payment_hash TEXT PRIMARY KEY NOT NULL CHECK (length(payment_hash) = 64),
            job_id TEXT REFERENCES jobs(id),
            bolt11 TEXT NOT NULL CHECK (length(bolt11) > 0),
            amount_msats INTEGER NOT NULL CHECK (amount_msats > 0),
            state TEXT NOT NULL CHECK (state IN ('pending', 'settled', 'expired', 'failed')),
            created_at TEXT NOT NULL,
            expires_at TEXT,
            settled_at TEXT,
            CHECK ((state = 'settled') = (settled_at IS NOT NULL))
        ) WITHOUT ROWID;
        CREATE INDEX invoices_job ON invoices(job_id);
        CREATE INDEX invoices_pending ON invoices(expires_at) WHERE state = 'pending';

        -- Hosted agents (SPEC §9) and their ticks.
        CREATE TABLE agents (
            name TEXT PRIMARY KEY NOT NULL
                CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9_-]*'),
            pubkey TEXT NOT NULL UNIQUE CHECK (length(pubkey) = 64),
            state TEXT NOT NULL CHECK (state IN ('spawning', 'active', 'low_balance', 'dormant', 'stopped')),
            goal TEXT NOT NULL,
            heartbeat_secs INTEGER NOT NULL CHECK (heartbeat_secs > 0),
            tick_budget_msats INTEGER NOT NULL CHECK (tick_budget_msats >= 0),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE tick_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_name TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE ON UPDATE CASCADE,
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
            prompt_tokens INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
            completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
            cost_msats INTEGER NOT NULL DEFAULT 0 CHECK (cost_msats >= 0),
            outcome TEXT NOT NULL CHECK (length(outcome) > 0),
            note TEXT
        );
        CREATE INDEX tick_history_agent ON tick_history(agent_name, started_at);

        -- Jobs this node bought.
        CREATE TABLE buyer_jobs (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),
            kind INTEGER NOT NULL CHECK (kind BETWEEN 5000 AND 5999),
            provider TEXT CHECK (provider IS NULL OR length(provider) = 64),
            prompt TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
            bid_msats INTEGER CHECK (bid_msats >= 0),
            encrypted INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
            relays TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(relays)),
            status TEXT NOT NULL
                CHECK (status IN ('submitted', 'processing', 'payment_required', 'completed', 'error', 'timeout')),
            result TEXT,
            result_event_id TEXT CHECK (result_event_id IS NULL OR length(result_event_id) = 64),
            answered_by TEXT CHECK (answered_by IS NULL OR length(answered_by) = 64),
            feedback TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(feedback)),
            amount_paid_msats INTEGER NOT NULL DEFAULT 0 CHECK (amount_paid_msats >= 0),
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX buyer_jobs_created ON buyer_jobs(created_at);
        CREATE INDEX buyer_jobs_status ON buyer_jobs(status, created_at);
        """

    /// `jobs` and `buyer_jobs` with the same columns and constraints, their status checks written as
    /// comparisons: SQLite evaluates `x IN (a, b, c)` (more than two values) by building a temporary
    /// index, and did so for every insert and status change of a job (up to two per statement, each
    /// with a page cache allocated and dropped).
    static let v2 = """
        CREATE TABLE jobs_v2 (
            arrival INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE REFERENCES processed_requests(event_id),
            kind INTEGER NOT NULL CHECK (kind BETWEEN 5000 AND 5999),
            customer TEXT NOT NULL CHECK (length(customer) = 64),
            status TEXT NOT NULL
                CHECK (status = 'queued' OR status = 'awaiting_payment' OR status = 'running' OR status = 'completed'
                    OR status = 'failed' OR status = 'cancelled'),
            requested_model TEXT,
            model TEXT,
            backend TEXT,
            input TEXT NOT NULL,
            input_bytes INTEGER NOT NULL CHECK (input_bytes >= 0),
            params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
            bid_msats INTEGER CHECK (bid_msats >= 0),
            price_msats INTEGER NOT NULL DEFAULT 0 CHECK (price_msats >= 0),
            encrypted INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
            request TEXT NOT NULL CHECK (json_valid(request)),
            relays TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(relays)),
            priority INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            admitted_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            prompt_tokens INTEGER CHECK (prompt_tokens >= 0),
            completion_tokens INTEGER CHECK (completion_tokens >= 0),
            output_bytes INTEGER CHECK (output_bytes >= 0),
            duration_ms INTEGER CHECK (duration_ms >= 0),
            result_event_id TEXT CHECK (result_event_id IS NULL OR length(result_event_id) = 64),
            error TEXT,
            CHECK (status NOT IN ('running', 'completed') OR (started_at IS NOT NULL AND model IS NOT NULL AND backend IS NOT NULL)),
            CHECK ((status = 'completed' OR status = 'failed' OR status = 'cancelled') = (finished_at IS NOT NULL)),
            CHECK (status <> 'completed' OR result_event_id IS NOT NULL),
            CHECK (status NOT IN ('failed', 'cancelled') OR error IS NOT NULL)
        );
        INSERT INTO jobs_v2 SELECT * FROM jobs;
        DROP TABLE jobs;
        ALTER TABLE jobs_v2 RENAME TO jobs;
        CREATE INDEX jobs_status ON jobs(status, arrival);

        CREATE TABLE buyer_jobs_v2 (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),
            kind INTEGER NOT NULL CHECK (kind BETWEEN 5000 AND 5999),
            provider TEXT CHECK (provider IS NULL OR length(provider) = 64),
            prompt TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
            bid_msats INTEGER CHECK (bid_msats >= 0),
            encrypted INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
            relays TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(relays)),
            status TEXT NOT NULL
                CHECK (status = 'submitted' OR status = 'processing' OR status = 'payment_required' OR status = 'completed'
                    OR status = 'error' OR status = 'timeout'),
            result TEXT,
            result_event_id TEXT CHECK (result_event_id IS NULL OR length(result_event_id) = 64),
            answered_by TEXT CHECK (answered_by IS NULL OR length(answered_by) = 64),
            feedback TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(feedback)),
            amount_paid_msats INTEGER NOT NULL DEFAULT 0 CHECK (amount_paid_msats >= 0),
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        INSERT INTO buyer_jobs_v2 SELECT * FROM buyer_jobs;
        DROP TABLE buyer_jobs;
        ALTER TABLE buyer_jobs_v2 RENAME TO buyer_jobs;
        CREATE INDEX buyer_jobs_created ON buyer_jobs(created_at);
        CREATE INDEX buyer_jobs_status ON buyer_jobs(status, created_at);
        """

    /// The journal without AUTOINCREMENT. The append-only triggers mean no entry is ever deleted,
    /// so SQLite's next rowid (the largest plus one) is strictly increasing and never reused
    /// already; AUTOINCREMENT only added a `sqlite_sequence` row that every insert read and
    /// rewrote, one more page written in every transaction of a job. Entries keep their `seq`.
    static let v3 = """
        CREATE TABLE journal_v3 (
            seq INTEGER PRIMARY KEY,
            time TEXT NOT NULL CHECK (length(time) = 24),
            kind TEXT NOT NULL CHECK (length(kind) > 0),
            data TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object')
        );
        INSERT INTO journal_v3 (seq, time, kind, data) SELECT seq, time, kind, data FROM journal ORDER BY seq;
        DROP TABLE journal;
        ALTER TABLE journal_v3 RENAME TO journal;
        DELETE FROM sqlite_sequence WHERE name = 'journal';
        CREATE TRIGGER journal_append_only_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
        CREATE TRIGGER journal_append_only_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
        """

    /// The buyer records the payment hash of the invoice it is about to pay before it pays, so a
    /// retry or a restart never pays a second invoice for one job.
    static let v4 = """
        ALTER TABLE buyer_jobs ADD COLUMN payment_hash TEXT CHECK (payment_hash IS NULL OR length(payment_hash) = 64);
        """

    /// A tick records who answered it and the note it published (SPEC §12 `agent.ticked`); an
    /// agent, what its wallet held when it last looked.
    static let v5 = """
        ALTER TABLE tick_history ADD COLUMN provider TEXT CHECK (provider IS NULL OR length(provider) = 64);
        ALTER TABLE tick_history ADD COLUMN note_id TEXT CHECK (note_id IS NULL OR length(note_id) = 64);
        ALTER TABLE agents ADD COLUMN balance_msats INTEGER CHECK (balance_msats IS NULL OR balance_msats >= 0);
        """
}
