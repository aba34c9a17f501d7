#pragma once
// A node's state on disk (--state-dir): its ID and port, its routing contacts, and the items it
// stores (kadnode's and BEP 44's) with their remaining lives, so that it comes back from a
// restart or a crash as it was.
//
// The file is written atomically (a temporary file, fsync, rename, fsync of the directory), is
// versioned, and carries a SHA-256 of its contents: a damaged or truncated file is detected on
// load and set aside. A lock file keeps a second process off the same directory. The format is
// described in docs/ARCHITECTURE.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kad/expected.hpp"
#include "kad/krpc.hpp"
#include "kad/node_id.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"

namespace kad {

using WallClock = std::chrono::system_clock;

struct SavedItem {
    std::string key;
    std::string value;
    std::int64_t seq = 0;
    WallClock::time_point expires{};
    Duration ttl{};
    bool original = false;
    WallClock::time_point published_at{};
    std::optional<Endpoint> source;  // who wrote this version (its storage quota); none: us
    std::string signature;           // BEP 44 mutable items: the signature of this version
};

struct SavedState {
    static constexpr std::int64_t kVersion = 1;
    NodeId id;
    std::uint16_t port = 0;
    std::vector<krpc::NodeInfo> contacts;
    std::vector<SavedItem> items;
    // BEP 44 items: the key is empty (immutable) or the public key then the salt (mutable); the
    // value is the bencoded "v". Checked again when restored (Node::restore_item).
    std::vector<SavedItem> bep44_items;
};

// A stored item as it is saved: its times on the wall clock, so that they survive a restart.
// `now` and `wall` are the same instant on each clock. The snapshot and the journal both use it.
SavedItem to_saved(const StoredItem& item, TimePoint now, WallClock::time_point wall);
// The other way, for a restore: times back on the steady clock, stored (stored_at) at `now`.
StoredItem from_saved(const SavedItem& saved, TimePoint now, WallClock::time_point wall);

// Notices the wall clock moving against the steady one. The state directory holds wall-clock
// times, each converted with the offset between the two clocks when it was written; when the
// wall clock is set (an NTP step, a clock corrected after boot) or the host sleeps (the steady
// clock stops, the wall clock does not), the offset moves, and what the journal holds is in the
// old terms: replayed after a crash, its expiry times would be off by the step (a clock set a
// day ahead would drop every value journaled before it). kadnode writes a snapshot as soon as
// it notices, which puts everything in the new terms.
class ClockStepWatch {
public:
    explicit ClockStepWatch(Duration tolerance = std::chrono::seconds(1)) : tolerance_(tolerance) {}
    // How far the wall clock moved against the steady one since the last call: zero within the
    // tolerance (the first call only takes the reference). Called about once a second.
    std::chrono::nanoseconds check(TimePoint now, WallClock::time_point wall);

private:
    Duration tolerance_;
    std::optional<std::chrono::nanoseconds> offset_;
};

std::string encode_state(const SavedState& s);
// The error says what is wrong: "too short", "not a kadnode state file", "checksum mismatch
// (damaged or truncated)", "version N is not supported", "malformed: ...".
Expected<SavedState> decode_state(std::string_view file);

// A locked state directory. The lock is held while the object lives.
// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a mix:
// a temporary file with `mode`, synced, renamed over `path`, and the directory synced. Throws
// std::system_error naming the file on failure.
void write_file_atomically(const std::string& path, std::string_view bytes, unsigned mode);

class StateDir {
public:
    // Creates the directory if needed and locks it. Fails with a clear message if another
    // process holds it.
    static Expected<StateDir> open(const std::string& path);
    StateDir(StateDir&& o) noexcept;
    StateDir& operator=(StateDir&&) = delete;
    ~StateDir();

    const std::string& path() const noexcept { return path_; }
    std::string file() const { return path_ + "/state"; }
    // The changes since the snapshot in file() (kad/journal.hpp).
    std::string journal_file() const { return path_ + "/journal"; }

    // The saved state, nullopt if there is none: the snapshot, with the journal's records
    // replayed on top of it. A damaged snapshot is renamed to state.damaged-<unix time>, and
    // `warning` says so; the node then starts fresh (and the journal, which holds only changes
    // to that snapshot, is set aside as journal.orphan-<unix time>). A journal's torn tail (a
    // write cut short by a crash) is dropped, and `warning` says how many bytes.
    std::optional<SavedState> load(std::string& warning);
    // How many journal records the last load() replayed.
    std::size_t replayed() const noexcept { return replayed_; }
    // Writes atomically. Throws std::system_error naming the file on failure.
    void save(const SavedState& s);

private:
    StateDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
    // Moves `file` to `file.<why>-<unix time>`; the words for the warning.
    static std::string set_aside(const std::string& file, const char* why);

    std::string path_;
    int lock_fd_ = -1;
    std::size_t replayed_ = 0;
};

}  // namespace kad
