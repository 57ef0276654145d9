//! Named limits. Crossing one is a clear, typed error — never a hang or an OOM.

/// Largest encoded payload of one event. Events carry facts and hashes, not raw connector
/// payloads (those go to the blob store), so 1 MiB is far above any legitimate event.
pub const EVENT_BYTES_MAX: usize = 1024 * 1024;

/// Most events in one atomic append. Big enough for the extraction of one large response,
/// small enough that one transaction never holds the write lock for long.
pub const BATCH_EVENTS_MAX: usize = 10_000;

/// Longest stream name, e.g. `candidate/<64 hex chars>` fits with room to spare.
pub const STREAM_NAME_BYTES_MAX: usize = 256;

/// Longest trace id or free-text envelope field.
pub const ENVELOPE_TEXT_BYTES_MAX: usize = 256;

/// Largest raw connector payload the blob store accepts (a whole council layer dump fits).
pub const PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// How long a writer waits for another process's write transaction before giving up.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;

/// How long the one-time migration of an old (sled) blob store waits for another process
/// that holds the old store or is migrating it. The current store takes no lock at all.
pub const BLOB_LOCK_WAIT_MS: u64 = 30_000;

/// Free space a blob write must leave on the blob store's file system. A payload that
/// would eat into it is refused before a byte is written, so the log (usually on the same
/// disk) still has room to record why the run stopped, and no step is left half done.
pub const FREE_BYTES_RESERVED: u64 = 1024 * 1024;

/// Events fetched per page when streaming the log; memory stays bounded by this.
pub const READ_PAGE_EVENTS: usize = 1024;
