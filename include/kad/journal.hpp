#pragma once
// The state directory's journal: every change to the stores, appended as it happens and before
// the write that made it is acknowledged, so that a crash (kill -9) at any moment loses nothing
// a peer or a put was told is stored. The snapshot (kad/state.hpp) folds the journal in from time
// to time; on start, the snapshot is read and the journal replayed on top of it.
//
// A record is framed: 4 bytes of length (big-endian), the first 8 bytes of the SHA-256 of the
// payload, then the payload (bencoded). Replay stops at the first record that is cut short or
// does not match its checksum (a write the crash interrupted), and the rest is dropped. Each
// record holds an item as it now is, or says that it left: replaying a record twice, or records
// the snapshot already holds, changes nothing.
//
// When the journal reaches the disk (power loss, not only a crash of the process) is a policy:
// after every record (always), every N milliseconds (interval), or when the kernel decides
// (never). The format is described in docs/ARCHITECTURE.md.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kad/expected.hpp"
#include "kad/node_id.hpp"
#include "kad/state.hpp"

namespace kad {

struct JournalRecord {
    // Put: an item as it now is. Erase: the item left. Contact: a node entered the routing
    // table (so that a node killed before its first snapshot with contacts comes back through
    // them; contacts that leave are not recorded, the next snapshot drops them).
    enum class Op : std::uint8_t { Put, Erase, Contact };
    Op op = Op::Put;
    bool bep44 = false;  // which store: kadnode's items, or BEP 44's
    NodeId target;       // the item's; a contact's ID
    SavedItem item;      // Put
    Endpoint endpoint;   // Contact
};

// One framed record.
std::string encode_record(const JournalRecord& r);
struct DecodedJournal {
    std::vector<JournalRecord> records;
    std::size_t intact = 0;   // bytes of whole, checked records (from the start)
    std::size_t dropped = 0;  // bytes after them: a torn or damaged tail
};
// The records of a journal file's contents (its header included), up to the first damaged one.
// An error if the file is not a journal at all.
Expected<DecodedJournal> decode_journal(std::string_view file);
// Applies records to a loaded state, in order: a put replaces (or adds) the item at its target,
// an erase removes it, a contact is added unless its ID is there.
void apply_journal(SavedState& state, const std::vector<JournalRecord>& records);

enum class SyncPolicy : std::uint8_t { Always, Interval, Never };
struct JournalSync {
    SyncPolicy policy = SyncPolicy::Interval;
    std::chrono::milliseconds interval{1000};  // SyncPolicy::Interval
};
// "always", "never", or an interval ("250ms", "1s", "100" milliseconds); the error says why not.
Expected<JournalSync> parse_sync(std::string_view text);
std::string to_string(const JournalSync& s);

// The journal file, open for appending.
class Journal {
public:
    // Opens (creating) the file at `path`, which must be empty or a journal; appends after what
    // is there. Use clear() after the snapshot has folded it in.
    static Expected<Journal> open(const std::string& path, JournalSync sync);
    Journal(Journal&& o) noexcept;
    Journal& operator=(Journal&&) = delete;
    ~Journal();

    // Writes one record (it has reached the operating system when this returns; with
    // SyncPolicy::Always, the disk). Throws std::system_error naming the file on failure.
    void append(const JournalRecord& r);
    // Flushes what was written since the last sync to the disk (fdatasync), if anything was.
    // Throws std::system_error on failure.
    void sync();
    // Empties the journal (after a snapshot that holds all of it has been written).
    void clear();

    const std::string& path() const noexcept { return path_; }
    const JournalSync& policy() const noexcept { return sync_; }
    std::uint64_t bytes() const noexcept { return bytes_; }      // since the last clear()
    std::uint64_t records() const noexcept { return records_; }  // appended, in all
    std::uint64_t syncs() const noexcept { return syncs_; }
    // What a power cut keeps for sure: the file up to here, as of the last fdatasync (0 after
    // clear(): the snapshot, written and synced first, holds everything before).
    std::uint64_t synced_bytes() const noexcept { return synced_; }
    bool dirty() const noexcept { return dirty_; }

private:
    Journal(std::string path, int fd, JournalSync sync, std::uint64_t bytes)
        : path_(std::move(path)), fd_(fd), sync_(sync), bytes_(bytes) {}
    void write_all(std::string_view bytes);

    std::string path_;
    int fd_ = -1;
    JournalSync sync_;
    std::uint64_t bytes_ = 0;
    std::uint64_t records_ = 0;
    std::uint64_t syncs_ = 0;
    std::uint64_t synced_ = 0;
    bool dirty_ = false;
    bool need_header_ = false;  // emptied, and its header not yet written
};

}  // namespace kad
