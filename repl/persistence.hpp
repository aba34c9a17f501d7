#pragma once
// --state-dir while kadnode runs: the snapshot and the journal (kad/state.hpp, kad/journal.hpp)
// and what keeps them — a snapshot every --save-interval when something changed, the journal's
// fsync every interval (--fsync), a snapshot when the wall clock moves against the steady one
// (kad::ClockStepWatch), and a last snapshot at the stop. docs/ARCHITECTURE.md, "Persistence".

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kad/journal.hpp"
#include "kad/log.hpp"
#include "kad/runtime.hpp"
#include "kad/state.hpp"

namespace kadnode {

class Persistence {
public:
    struct Settings {
        kad::Duration save_interval = std::chrono::seconds(5);
        kad::JournalSync fsync;
    };
    // Where a problem is told to the user (a line; the console, or stderr).
    using Problem = std::function<void(const std::string&)>;

    // Opens (locks) the directory; an error says why not.
    static kad::Expected<std::unique_ptr<Persistence>> open(boost::asio::io_context& io,
                                                            const std::string& dir,
                                                            Settings settings);

    // What the directory holds, its journal replayed (nothing if empty or damaged; `warning`
    // then may say why). Before the node exists: it gives the ID and the port.
    std::optional<kad::SavedState> load(std::string& warning);
    const std::string& path() const { return dir_.path(); }

    // Once the node has restored what load() gave: writes the snapshot (the ID and the port are
    // on disk before the node says it is ready), then journals every store before it is
    // answered, and starts the timers. False, with the reason on stderr, if it cannot.
    bool start(kad::AsioNode& node, const kad::Logger& log, Problem problem);
    // A snapshot now, which then holds all the journal held. False (told) if it failed.
    bool save();
    // The node is stopping (handing its items off): no more periodic snapshots.
    void stopping() { stopping_ = true; }
    // The end: every timer cancelled, and a last snapshot.
    void finish();

private:
    Persistence(boost::asio::io_context& io, kad::StateDir dir, Settings settings);
    void schedule_save();
    void schedule_sync();
    void watch_clock();
    static std::uint64_t changes(const kad::Node& n);

    kad::StateDir dir_;
    Settings settings_;
    kad::AsioNode* node_ = nullptr;
    kad::Logger log_;
    Problem problem_;
    std::optional<kad::Journal> journal_;
    boost::asio::steady_timer save_timer_, sync_timer_, clock_timer_;
    kad::ClockStepWatch clock_watch_;
    std::uint64_t saved_changes_ = 0;
    std::size_t saved_contacts_ = 0;
    std::uint64_t saved_records_ = 0;
    bool stopping_ = false;
    bool finished_ = false;
};

}  // namespace kadnode
