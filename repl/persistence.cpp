#include "persistence.hpp"

#include <iostream>

namespace kadnode {

kad::Expected<std::unique_ptr<Persistence>> Persistence::open(boost::asio::io_context& io,
                                                              const std::string& dir,
                                                              Settings settings) {
    auto d = kad::StateDir::open(dir);
    if (!d) return kad::unexpected(d.error());
    return std::unique_ptr<Persistence>(new Persistence(io, std::move(*d), settings));
}

Persistence::Persistence(boost::asio::io_context& io, kad::StateDir dir, Settings settings)
    : dir_(std::move(dir)),
      settings_(settings),
      save_timer_(io),
      sync_timer_(io),
      clock_timer_(io) {}

std::optional<kad::SavedState> Persistence::load(std::string& warning) {
    return dir_.load(warning);
}

// Writes to either store (kadnode's items, BEP 44 items) since the node started.
std::uint64_t Persistence::changes(const kad::Node& n) {
    return n.storage().changes() + n.item_store().changes();
}

bool Persistence::start(kad::AsioNode& node, const kad::Logger& log, Problem problem) {
    node_ = &node;
    log_ = log;
    problem_ = std::move(problem);
    // The journal, once the state it applies to is on disk: the ID and the port, and whatever
    // the journal replayed, are saved before the node says it is ready; from then on every
    // store is in the journal before it is answered.
    auto journal = kad::Journal::open(dir_.journal_file(), settings_.fsync);
    if (!journal) {
        std::cerr << "kadnode: --state-dir " << journal.error() << "\n";
        return false;
    }
    journal_.emplace(std::move(*journal));
    if (!save()) return false;
    if (dir_.replayed() > 0) {
        KAD_LOG(log_, Info,
                "replayed " + std::to_string(dir_.replayed()) + " changes from the journal");
    }
    node_->set_journal(&*journal_);
    if (settings_.fsync.policy == kad::SyncPolicy::Interval) schedule_sync();
    watch_clock();
    schedule_save();
    return true;
}

bool Persistence::save() {
    if (!node_) return true;  // not started: nothing to save yet
    const auto& n = node_->node();
    try {
        dir_.save(node_->snapshot());
        saved_changes_ = changes(n);
        saved_contacts_ = n.routing_table().size();
        if (journal_) {
            saved_records_ = journal_->records();
            journal_->clear();
            node_->journal_recovered();
        }
        return true;
    } catch (const std::exception& e) {
        // Keep serving: the next save may work (a full disk frees up).
        problem_(std::string("kadnode: cannot save the state: ") + e.what());
        return false;
    }
}

void Persistence::finish() {
    if (finished_) return;
    finished_ = true;
    stopping_ = true;
    save_timer_.cancel();
    sync_timer_.cancel();
    clock_timer_.cancel();
    save();
}

void Persistence::schedule_save() {
    save_timer_.expires_after(settings_.save_interval);
    save_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        const auto& n = node_->node();
        // New contacts are journaled too: fold them in, or the journal would only grow.
        const bool journaled = journal_ && journal_->records() != saved_records_;
        if (changes(n) != saved_changes_ || n.routing_table().size() != saved_contacts_ ||
            journaled) {
            save();
        }
        schedule_save();
    });
}

void Persistence::schedule_sync() {
    sync_timer_.expires_after(settings_.fsync.interval);
    sync_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || finished_) return;
        try {
            journal_->sync();
        } catch (const std::system_error& e) {
            // What was acknowledged may not reach the disk: acknowledge nothing more until a
            // snapshot holds it all.
            problem_(std::string("kadnode: ") + e.what());
            node_->journal_error(e.what());
        }
        schedule_sync();
    });
}

// The journal's times are on the wall clock as it was when each record was written: when the
// wall clock moves against the steady one (set, or the host slept), a snapshot puts them all in
// the new terms (kad::ClockStepWatch).
void Persistence::watch_clock() {
    const auto step = clock_watch_.check(kad::Clock::now(), kad::WallClock::now());
    if (step != std::chrono::nanoseconds::zero()) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(step).count();
        // Saved first: once this line is out, the state on disk follows the new clock.
        const bool saved = save();
        KAD_LOG(log_, Warn,
                "the wall clock moved " + std::string(ms > 0 ? "+" : "") +
                    std::to_string(ms / 1000) + "." +
                    std::to_string((ms < 0 ? -ms : ms) % 1000 / 100) +
                    " s against the monotonic clock (set, or the host slept): " +
                    (saved ? "saved the state so that its times follow"
                           : "the state could not be saved (above)"));
    }
    clock_timer_.expires_after(std::chrono::seconds(1));
    clock_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || finished_) return;
        watch_clock();
    });
}

}  // namespace kadnode
