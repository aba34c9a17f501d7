#include "kad/node.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "ops/bootstrap.hpp"
#include "ops/find.hpp"
#include "ops/hand_off.hpp"
#include "ops/items.hpp"
#include "ops/operation.hpp"
#include "ops/peers.hpp"
#include "ops/probes.hpp"
#include "ops/put.hpp"
#include "ops/watch.hpp"

namespace kad {

namespace {

NodeConfig checked(NodeConfig c) {
    if (auto why = config_error(c); !why.empty()) {
        throw std::invalid_argument("bad NodeConfig: " + why);
    }
    c.routing.k = c.k;
    return c;
}

// BEP 44 items: the limits of kadnode's items, and one life for all (no "ttl" in a put).
StorageConfig item_storage_config(const NodeConfig& c) {
    StorageConfig s = c.storage;
    s.default_ttl = c.item_ttl;
    s.max_ttl = c.item_ttl;
    // Only the key's holder can sign a version: nobody else can raise its seq (BEP 44).
    s.max_seq_step = std::numeric_limits<std::int64_t>::max();
    s.max_new_seq = std::numeric_limits<std::int64_t>::max();
    return s;
}

}  // namespace

// Maintenance's work, done with the node's operations.
class Node::Actions final : public Maintenance::Actions {
public:
    explicit Actions(Node& node) : node_(node) {}

    bool refresh(const NodeId& target) override {
        if (!ops::Traversal::admit(*node_.ctx_)) return false;
        node_.ops_->start<ops::LookupOp>(*node_.ctx_, target, Callback<LookupResult>{});
        return true;
    }

    bool republish(const StoredItem& item, Duration ttl) override {
        Maintenance* m = &node_.maintenance_;
        node_.ops_->start<ops::RepublishOp>(
            *node_.ctx_, ops::StoreJob{item.key, item.value, item.seq, ttl},
            [m, target = item.target](const ops::RepublishResult& r) {
                m->republish_done(target, r.stored, r.displaced);
            });
        return true;
    }

    void hand_off(const StoredItem& item, Duration ttl, const NodeId& to,
                  const Endpoint& at) override {
        Maintenance* m = &node_.maintenance_;
        ops::store(*node_.ctx_, at, to, item.key, item.value, PutOptions{item.seq, ttl},
                   [m](const StoreRpcResult& r) { m->hand_off_done(r.ok); });
    }

    void ping(const PingRequest& request) override { node_.rpc_.verify(request); }

private:
    Node& node_;
};

namespace {

// How a put of one of our BEP 44 items ended, for ItemRefresh.
ItemRefresh::Outcome outcome_of(const ItemPutResult& r) {
    using O = ItemRefresh::Outcome;
    if (r.ok) return O::Stored;
    switch (r.code) {
        case Failure::Superseded:
            return O::Superseded;
        case Failure::Refused:  // by every node that answered: no use asking again soon
            return O::Refused;
        default:  // nobody answered, nobody to ask, too busy, cancelled
            return O::Failed;
    }
}

}  // namespace

// ItemRefresh's puts, done with the node's operation.
class Node::ItemActions final : public ItemRefresh::Actions {
public:
    explicit ItemActions(Node& node) : node_(node) {}

    bool put_again(const StoredItem& item) override {
        ItemRefresh* refresh = &node_.item_refresh_;
        node_.ops_->start<ops::ItemPutOp>(
            *node_.ctx_, ops::ItemPut{ops::item_of(item), std::nullopt, std::nullopt},
            [node = &node_, refresh, target = item.target, key = item.key](const ItemPutResult& r) {
                if (r.ok && r.stored_locally) refresh->on_published(target);
                const auto outcome = outcome_of(r);
                refresh->done(target, outcome);
                if (outcome == ItemRefresh::Outcome::Superseded && node->superseded_) {
                    node->superseded_(Superseded{Store::Items, target, key, std::nullopt, {}});
                }
            });
        return true;
    }

private:
    Node& node_;
};

Node::Node(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
           TimePoint now)
    : config_(checked(std::move(config))),
      id_(id),
      rng_(rng),
      now_(now),
      table_(id, config_.routing, now),
      storage_(config_.storage),
      items_(item_storage_config(config_)),
      peers_(config_.peers),
      listeners_(config_.listeners),
      seen_(config_.seen_seq_entries),
      limiter_(config_.rate_limit, rng.next_u64()),
      tokens_(config_.token_rotation, rng, now),
      rpc_(config_, id_, now_, transport, rng, table_, stats_, log_),
      queries_(config_, id_, now_, rpc_, table_, {storage_, items_, peers_, listeners_}, tokens_,
               rng, stats_, log_),
      ops_(std::make_unique<ops::Operations>()),
      actions_(std::make_unique<Actions>(*this)),
      maintenance_(config_, now_, table_, storage_, rng, stats_, *actions_),
      item_actions_(std::make_unique<ItemActions>(*this)),
      item_refresh_(config_, now_, items_, stats_, *item_actions_),
      watches_(config_.watch_interval, config_.max_watches),
      ctx_(std::make_unique<ops::Context>(
          ops::Context{config_, id_, now_, rng_, log_, stats_, table_, storage_, items_, peers_,
                       seen_, rpc_, *ops_, maintenance_, queries_.store_refusal()})) {
    rpc_.set_new_contact_hook([this](const NodeId& peer, const Endpoint& at) {
        maintenance_.on_new_contact(peer, at);
        if (new_contact_) new_contact_(peer, at);
    });
    queries_.set_store_hook([this](const NodeId& target) { maintenance_.on_stored(target); });
    // Every change to a value, whoever made it: to a watch of its key, to the watchers
    // listening for it, and to the journal.
    storage_.set_change_hook([this](const NodeId& target, const StoredItem* item) {
        if (item) {
            watches_.stored(*item, {id_, Endpoint{}});
            notify_listeners(*item);
        }
        if (store_observer_) store_observer_(Store::Values, target, item);
    });
    queries_.set_notify_hook(
        [this](const krpc::NodeInfo& holder, const std::string& tag, const krpc::Item& item) {
            if (!watches_.notified(holder, tag, item, now_)) return false;
            // As a watch round's lookup does: a later get or put goes past this version.
            if (seen_.note(NodeId::from_key(item.key), item.seq)) ++stats_.seen_seq_evicted;
            return true;
        });
    // A watcher that listened now hears at once of a version newer than it knows.
    queries_.set_listen_hook([this](const NodeId& target) {
        if (const StoredItem* item = storage_.find(target)) notify_listeners(*item);
    });
    auto taken = [this](Store store) {
        return [this, store](const StoredItem& item) {
            if (store == Store::Values) ++stats_.values_superseded;
            KAD_LOG(log_, Info,
                    "superseded: " + std::string(store == Store::Items ? "item " : "key ") +
                        item.target.to_hex() + " (seq " + std::to_string(item.seq) + " from " +
                        item.source.to_string() + ")");
            if (superseded_) {
                superseded_(Superseded{store, item.target, item.key, item.seq, item.source});
            }
        };
    };
    storage_.set_superseded_hook(taken(Store::Values));
    items_.set_superseded_hook(taken(Store::Items));
}

void Node::set_store_observer(const StoreObserver& o) {
    store_observer_ = o;  // values: through the change hook set at construction
    if (!o) return items_.set_change_hook({});
    items_.set_change_hook(
        [o](const NodeId& target, const StoredItem* item) { o(Store::Items, target, item); });
}

std::optional<WatchId> Node::watch(TimePoint now, std::string key, Callback<WatchEvent> on_event) {
    advance(now);
    std::array<std::uint8_t, 8> tag{};
    rng_.fill(tag);
    return watches_.add(std::move(key), std::string(tag.begin(), tag.end()), std::move(on_event),
                        now_);
}

bool Node::unwatch(WatchId id) {
    return watches_.remove(id);
}

void Node::notify_listeners(const StoredItem& item) {
    for (auto& [who, tag] : listeners_.take_newer(item.target, item.seq, item.source, now_)) {
        if (notifies_in_flight_ >= config_.listeners.max_in_flight) {
            ++stats_.notifies_skipped;  // the watcher's next round finds it
            continue;
        }
        krpc::NotifyArgs a;
        a.target = item.target;
        a.tag = std::move(tag);
        a.key = item.key;
        a.value = item.value;
        a.seq = item.seq;
        auto on_answer = [this, target = item.target, at = who.endpoint](const RpcEvent& e) {
            if (e.kind == RpcEventKind::SoftTimeout) return;
            --notifies_in_flight_;
            if (e.kind == RpcEventKind::Reply) return;
            // It no longer watches the key (an error), or is gone (silence): it hears no more
            // from us. If it still watches, its next round listens again.
            ++(e.kind == RpcEventKind::ErrorReply ? stats_.notifies_refused
                                                  : stats_.notifies_unanswered);
            listeners_.remove(target, at);
        };
        if (rpc_.query(who.endpoint, who.id, rpc_.make_query(std::move(a)), std::move(on_answer))) {
            ++notifies_in_flight_;
            ++stats_.notifies_sent;
        }
    }
}

void Node::refuse_stores(std::string reason) {
    queries_.refuse_stores(std::move(reason));
}

Node::~Node() {
    // The operations first: they count themselves out of the context as they go.
    ops_->take_all();
}

std::size_t Node::lookups_running() const noexcept {
    return ctx_->lookups;
}

std::vector<Node::Held> Node::footprint() const {
    const RoutingConfig& rc = config_.routing;
    // A table splits only the bucket holding our own ID: at most one bucket per bit, and one.
    const std::size_t buckets = NodeId::kBits + 1;
    std::size_t replacements = 0;
    for (std::size_t i = 0; i < table_.bucket_count(); ++i) {
        replacements += table_.bucket(i).replacements().size();
    }
    const StorageConfig& sc = config_.storage;
    const ForeignNodes& foreign = rpc_.foreign();
    return {
        {"contacts", table_.size(), buckets * rc.k},
        {"replacements", replacements, buckets * rc.replacements},
        {"values", storage_.size(), sc.max_items},
        {"value_bytes", storage_.bytes(), sc.max_bytes},
        {"value_sources", storage_.sources(), sc.max_items},
        {"items", items_.size(), sc.max_items},
        {"item_bytes", items_.bytes(), sc.max_bytes},
        {"item_sources", items_.sources(), sc.max_items},
        {"swarms", peers_.swarms(), config_.peers.max_swarms},
        {"peers", peers_.size(), config_.peers.max_swarms * config_.peers.max_peers},
        {"transactions", rpc_.open(), config_.max_transactions},
        {"lookups", ctx_->lookups, config_.max_lookups},
        {"seen_seqs", seen_.size(), seen_.capacity()},
        {"foreign_nodes", foreign.size(), foreign.capacity()},
        {"foreign_suspects", foreign.suspects(), foreign.suspects_capacity()},
        // ClientVersions sweeps past twice the table and 64 more.
        {"client_versions", rpc_.client_versions().size(), 2 * buckets * rc.k + 65},
        {"rate_sources", limiter_.sources(), config_.rate_limit.max_sources},
        {"watches", watches_.size(), watches_.capacity()},
        {"listeners", listeners_.size(), listeners_.capacity()},
    };
}

// ---- time ---------------------------------------------------------------------------------------

void Node::advance(TimePoint now) {
    if (now > now_) now_ = now;
    // An item or a peer past its expiry is never served, even if the timer that removes it is
    // late.
    if (storage_.next_expiry() <= now_) storage_.expire(now_);
    if (items_.next_expiry() <= now_) items_.expire(now_);
    if (peers_.next_expiry() <= now_) peers_.expire(now_);
    if (listeners_.next_expiry() <= now_) listeners_.expire(now_);
}

TimePoint Node::next_timeout() const {
    return std::min({rpc_.next_deadline(), tokens_.next_rotation(), storage_.next_expiry(),
                     items_.next_expiry(), peers_.next_expiry(), maintenance_.next_due(),
                     item_refresh_.next_due(), watches_.next_due(), listeners_.next_expiry()});
}

void Node::handle_timeout(TimePoint now) {
    advance(now);
    rpc_.expire();
    tokens_.rotate_if_due(now_);
    maintenance_.run();
    if (item_refresh_.next_due() <= now_) item_refresh_.run();
    watches_.deliver();
    for (auto& due : watches_.take_due(now_)) {
        ops_->start<ops::WatchRoundOp>(
            *ctx_, std::move(due.key), ops::WatchListen{std::move(due.tag), due.reported},
            [this, id = due.id](const std::vector<krpc::NodeInfo>& holders) {
                watches_.asked(id, holders, now_, ops::listen_ttl(config_));
            },
            [this, id = due.id](const WatchRoundResult& r) { watches_.polled(id, r, now_); });
    }
}

// ---- receiving ----------------------------------------------------------------------------------

void Node::handle_datagram(TimePoint now, const Endpoint& sender, std::string_view datagram,
                           bool at_probe_port) {
    advance(now);
    ++stats_.packets_in;
    stats_.bytes_in += datagram.size();
    const Endpoint from = sender.normalized();
    if (from.is_unusable()) {
        ++stats_.unusable_source;
        return;
    }
    // A source sending far past its rate is not even decoded.
    if (limiter_.ignored(now_, from)) return;
    // One decoding document per thread, not per node: a process hosting thousands of nodes
    // (kadswarm, the simulator) keeps one, each grown to the largest message it has read (2.6 KiB
    // a node before). The decoded Message holds no view into it, and decode() calls nothing that
    // could decode again, so nodes sharing a thread cannot meet in it.
    thread_local bencode::Document scratch;
    auto decoded = krpc::decode(datagram, scratch, config_.limits);
    if (!decoded) {
        if (admit(from)) on_malformed(from, decoded.error());
        return;
    }
    const krpc::Message& m = *decoded;
    if (const auto* q = std::get_if<krpc::Query>(&m.body)) {
        if (at_probe_port) {
            // Nobody should take our second port for us (our probes say "ro"): we serve
            // queries at the first only.
            ++stats_.probe_port_queries;
            admit(from);
            return;
        }
        if (config_.read_only) {
            ++stats_.queries_ignored;  // BEP 43: a read-only node answers nothing
            return;
        }
        if (admit(from)) queries_.handle(from, m, *q);
    } else if (!rpc_.handle_reply(from, m)) {
        admit(from);  // charged: a stream of stray replies is a flood like any other
    }
    if (rpc_.take_address_change()) on_address_agreed();
}

void Node::on_address_agreed() {
    const std::optional<Endpoint>& ext = rpc_.external_address();
    if (!ext) return;
    KAD_LOG(log_, Info,
            "responders agree that our address is " + ext->address_string() + " (BEP 42)");
    if (!config_.derive_id || bep42::classify(id_, *ext) != bep42::IdClass::NonConforming) return;
    const NodeId old = id_;
    id_ = bep42::make_id(*ext, rng_);
    table_.rekey(id_, now_);
    ++stats_.id_changes;
    KAD_LOG(log_, Info,
            "new node ID " + id_.to_hex() + ", derived from " + ext->address_string() +
                " (BEP 42); it was " + old.to_hex());
    if (id_observer_) id_observer_(old, id_);
    // Tell our contacts (a ping from a known endpoint under a new ID makes them check it), and
    // meet the new neighbourhood; the buckets are all due for a refresh as well.
    for (const Contact* c : table_.all()) {
        ops::ping(*ctx_, c->endpoint, c->id, [](const PingResult&) {});
    }
    lookup(now_, id_, [](const LookupResult&) {});
}

void Node::on_malformed(const Endpoint& from, const krpc::DecodeFailure& f) {
    if (f.kind == krpc::DecodeFailureKind::BadQuery) {
        ++stats_.bad_queries;
        KAD_LOG(log_, Debug, "answered 203 to " + from.to_string() + ": " + f.reason);
        rpc_.error(from, f.transaction, krpc::kProtocolError, f.reason);
        return;
    }
    ++stats_.malformed_dropped;
    KAD_LOG(log_, Debug, "dropped a malformed datagram from " + from.to_string() + ": " + f.reason);
}

bool Node::admit(const Endpoint& from) {
    // Contacts in our routing table are answered even when the global budget is spent.
    const bool trusted = table_.find(from) != nullptr;
    switch (limiter_.charge(now_, from, trusted)) {
        case RateLimiter::Verdict::Allow:
            return true;
        case RateLimiter::Verdict::DropSource:
            KAD_LOG(log_, Trace, "rate limit: dropped a datagram from " + from.to_string());
            return false;
        case RateLimiter::Verdict::DropGlobal:
            KAD_LOG(log_, Trace, "global rate limit: dropped a datagram from " + from.to_string());
            return false;
        case RateLimiter::Verdict::DropIgnored:
            return false;
    }
    return false;
}

// ---- operations: node_operations.cpp ---------------------------------------------------------

Callback<ItemPutResult> Node::published(Callback<ItemPutResult> cb) {
    // Ours from now on: put again before it expires (ItemRefresh).
    return [this, cb = std::move(cb)](const ItemPutResult& r) {
        if (r.stored_locally) {
            switch (outcome_of(r)) {
                case ItemRefresh::Outcome::Stored:
                    item_refresh_.on_published(r.target);
                    break;
                case ItemRefresh::Outcome::Failed:  // kept here only: out again soon
                    item_refresh_.on_published(r.target);
                    // Unless the user stopped it (Ctrl-C): then at the next refresh, as a put
                    // stopped after its own copy was made.
                    if (r.code != Failure::Cancelled) item_refresh_.retry(r.target);
                    break;
                default:  // refused, or a newer version is out there: not ours to keep alive
                    items_.set_original(r.target, false);
                    break;
            }
        }
        if (cb) cb(r);
    };
}

namespace {

// A saved item's times, as a store from the network could have set them: no life longer than
// the store allows from now, nothing published in the future.
void bound_times(StoredItem& item, TimePoint now, Duration max_ttl) {
    item.expires = std::min(item.expires, now + max_ttl);
    item.ttl = std::clamp(item.ttl, Duration::zero(), max_ttl);
    item.published_at = std::min(item.published_at, now);
}

}  // namespace

StoreResult Node::restore(StoredItem item) {
    bound_times(item, now_, storage_.config().max_ttl);
    if (value_reply_size(config_, item.key, item.value) > config_.max_reply) {
        return StoreResult::ValueTooLarge;
    }
    const NodeId target = NodeId::from_key(item.key);
    const StoreResult r = storage_.restore(std::move(item));
    if (r == StoreResult::Stored) maintenance_.on_restored(target);
    return r;
}

std::optional<TimePoint> Node::unpublish(Store store, const NodeId& target) {
    Storage& held = store == Store::Values ? storage_ : items_;
    const StoredItem* item = held.find(target);
    if (!item || !item->original) return std::nullopt;
    const TimePoint expires = item->expires;
    if (store == Store::Values) {
        storage_.set_original(target, false);
        maintenance_.on_unpublished(target);
    } else {
        item_refresh_.on_unpublished(target);
    }
    return expires;
}

std::optional<StoreResult> Node::restore_item(StoredItem item) {
    // A state file is checked like an answer from the network: a mutable item (a public key
    // and a signature, both or neither) only if its signature verifies, an immutable one only
    // if its value is one bencoded value (its target is computed from it).
    bound_times(item, now_, items_.config().max_ttl);
    if (item_reply_size(config_, item.value) > config_.max_reply) return StoreResult::ValueTooLarge;
    const bool is_mutable = !item.signature.empty();
    if (is_mutable == item.key.empty() || (is_mutable && item.key.size() < kEd25519KeySize)) {
        return std::nullopt;
    }
    const bep44::Item bi = ops::item_of(item);
    const NodeId target = bi.target();
    if (!bep44::problem(bi, target).empty()) return std::nullopt;
    const StoreResult r = items_.restore(std::move(item), target);
    if (r == StoreResult::Stored) item_refresh_.on_restored(target);
    return r;
}

}  // namespace kad
