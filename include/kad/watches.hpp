#pragma once
// Keys this node watches (Node::watch): each new version of a key, wherever it appears, is
// reported once. Every watch_interval a round looks the key up (the k nearest, and the newest
// version they hold) and asks the nearest holders to listen: each then tells us (notify) of the
// next version stored there, within a round trip of its store. A holder that cannot (an older
// kadnode answers listen with 204) or a notify lost on the way costs only time: the next round
// finds the version. A version stored here, this node being one of the key's holders, is
// reported at once.
//
// The class keeps the schedule, the holders listening for each watch, and what was reported;
// the node starts the rounds (take_due()) and hands back their results (polled()), the stores
// made here (stored()) and the holders' notifies (notified()). What a store or a notify brings
// is reported from deliver(), which the node calls from handle_timeout(): never from inside
// the store or the datagram, so a callback may call back into the node.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kad/results.hpp"
#include "kad/storage.hpp"

namespace kad {

using WatchId = std::uint64_t;

// One new version of a watched key.
struct WatchEvent {
    WatchId id = 0;
    krpc::Item item;
    krpc::NodeInfo from;  // who had it (our own ID when it was stored here)
    bool here = false;    // stored on this node (rather than found by a round or a notify)
    bool pushed = false;  // a holder told us (notify)
};

class Watches {
public:
    Watches(Duration interval, std::size_t max) : interval_(interval), max_(max) {}

    // Watches `key` from now: the first round is due at once. `tag`: random bytes its listens
    // carry and the holders' notifies must echo (a forger who did not see a listen cannot).
    // Nothing if `max` are watched.
    std::optional<WatchId> add(std::string key, std::string tag, Callback<WatchEvent> on_event,
                               TimePoint now);
    // False if it is not watched (any more).
    bool remove(WatchId id);

    // The watches whose round is due: each is then running until polled().
    struct Due {
        WatchId id = 0;
        std::string key;
        std::string tag;
        std::optional<std::int64_t> reported;  // the newest version reported
        friend bool operator==(const Due&, const Due&) = default;
    };
    std::vector<Due> take_due(TimePoint now);
    // A watch's round sent its listens to `holders`: a notify from them is taken from now (one
    // may come before the round ends), for `listen_for`.
    void asked(WatchId id, const std::vector<krpc::NodeInfo>& holders, TimePoint now,
               Duration listen_for);
    // A watch's round ended: reports its item if newer than what was reported, forgets the
    // holders asked that did not take the listen, and sets the next round.
    void polled(WatchId id, const WatchRoundResult& r, TimePoint now);
    // A holder told us of a version (a notify): a watch of its key that listens at that holder
    // with that tag reports it at the next deliver(), if it is newer. False if none does (the
    // holder is then to stop).
    bool notified(const krpc::NodeInfo& holder, const std::string& tag, const krpc::Item& item,
                  TimePoint now);
    // An item was stored here (any writer): a watch of its key reports it if it is newer, at
    // the next deliver().
    void stored(const StoredItem& item, const krpc::NodeInfo& self);
    // Reports what stored() found.
    void deliver();

    TimePoint next_due() const;
    std::size_t size() const noexcept { return watches_.size(); }
    std::size_t capacity() const noexcept { return max_; }
    const std::string* key(WatchId id) const;
    // The holders listening for a watch, now.
    std::size_t listening(WatchId id, TimePoint now) const;

private:
    struct Watch {
        std::string key;
        std::string tag;
        NodeId target;
        Callback<WatchEvent> on_event;
        std::optional<std::int64_t> reported;  // the newest seq reported
        TimePoint next{};
        bool polling = false;
        // Holders asked to listen, until when: those of the last rounds that took it.
        std::vector<std::pair<Endpoint, TimePoint>> holders;
    };
    // Whether `seq` is newer than what `w` reported; if so it counts as reported from now.
    static bool take_if_newer(Watch& w, std::int64_t seq);
    // Reports `item` to watch `w` if it is newer than what it reported.
    void offer(WatchId id, Watch& w, const krpc::Item& item, const krpc::NodeInfo& from, bool here);
    // The same at the next deliver().
    void queue(WatchId id, Watch& w, const krpc::Item& item, const krpc::NodeInfo& from, bool here);

    Duration interval_;
    std::size_t max_;
    std::map<WatchId, Watch> watches_;
    std::vector<WatchEvent> pending_;  // stored here, to report at deliver()
    WatchId next_id_ = 1;
};

}  // namespace kad
