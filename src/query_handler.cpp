#include "kad/query_handler.hpp"

#include <algorithm>

#include "kad/bep44.hpp"
#include "kad/crypto.hpp"

namespace kad {

using krpc::Method;

QueryHandler::QueryHandler(const NodeConfig& config, const NodeId& self, const TimePoint& now,
                           Rpc& rpc, RoutingTable& table, Stores stores, const WriteTokens& tokens,
                           RandomSource& rng, NodeStats& stats, const Logger& log)
    : config_(config),
      self_(self),
      now_(now),
      rpc_(rpc),
      table_(table),
      storage_(stores.storage),
      items_(stores.items),
      peers_(stores.peers),
      listeners_(stores.listeners),
      tokens_(tokens),
      rng_(rng),
      stats_(stats),
      log_(log) {}

void QueryHandler::handle(const Endpoint& from, const krpc::Message& m, const krpc::Query& q) {
    const Method method = q.method();
    ++stats_.queries_in[static_cast<std::size_t>(method)];
    KAD_LOG(log_, Trace,
            "query " + std::string(method_name(method)) + " from " + from.to_string() + " (" +
                q.id.short_hex() + ")");
    answer(from, m, q);
    if (m.read_only) {
        // BEP 43: it answers no queries, so it has no place in a routing table.
        ++stats_.read_only_queries;
        return;
    }
    // Only then, so the asker is not kept waiting: perhaps verify it for our routing table.
    if (method != Method::Unknown) {
        rpc_.verify(table_.on_heard_of(now_, q.id, from));
        rpc_.heard_from(q.id, from);
    }
}

void QueryHandler::answer(const Endpoint& from, const krpc::Message& m, const krpc::Query& q) {
    switch (q.method()) {
        case Method::Ping:
            rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
            return;
        case Method::FindNode: {
            const auto& a = std::get<krpc::FindNodeArgs>(q.args);
            answer_find(from, m, q, a.target, a.want, false);
            return;
        }
        case Method::FindValue: {
            const auto& a = std::get<krpc::FindValueArgs>(q.args);
            answer_find(from, m, q, a.target, a.want, true);
            return;
        }
        case Method::Store:
            answer_store(from, m, std::get<krpc::StoreArgs>(q.args));
            return;
        case Method::GetPeers:
            answer_get_peers(from, m, q);
            return;
        case Method::AnnouncePeer:
            answer_announce(from, m, std::get<krpc::AnnouncePeerArgs>(q.args));
            return;
        case Method::Get:
            answer_get(from, m, q);
            return;
        case Method::Put:
            answer_put(from, m, std::get<krpc::PutArgs>(q.args));
            return;
        case Method::SampleInfohashes:
            answer_samples(from, m, q);
            return;
        case Method::Listen:
            answer_listen(from, m, q);
            return;
        case Method::Notify:
            answer_notify(from, m, q);
            return;
        case Method::Unknown:
            ++stats_.unknown_methods;
            rpc_.error(from, m.transaction, krpc::kMethodUnknown, "method unknown");
            return;
    }
}

std::vector<krpc::NodeInfo> QueryHandler::nearest(const Endpoint& from, const krpc::Query& q,
                                                  const NodeId& target,
                                                  const std::optional<krpc::Want>& want,
                                                  krpc::Want& lists) {
    ContactFilter filter;
    filter.exclude = q.id;  // never the asker
    // BEP 32: without "want", the asker's own address family.
    filter.v4 = want ? want->v4 : from.is_v4();
    filter.v6 = want ? want->v6 : from.is_v6();
    lists = krpc::Want{filter.v4, filter.v6};
    table_.closest(target, config_.k, filter, closest_);
    std::vector<krpc::NodeInfo> nodes;
    nodes.reserve(closest_.size());
    for (const Contact* c : closest_) nodes.push_back({c->id, c->endpoint});
    return nodes;
}

void QueryHandler::answer_find(const Endpoint& from, const krpc::Message& m, const krpc::Query& q,
                               const NodeId& target, const std::optional<krpc::Want>& want,
                               bool with_value) {
    krpc::Response resp{.id = self_};
    if (with_value) {
        resp.token = tokens_.issue(from);
        if (const StoredItem* item = storage_.find(target)) {
            resp.item = krpc::Item{item->key, item->value, item->seq};
        }
    }
    // BEP 5: a find_node answer carries "nodes" even when it has none to give.
    resp.nodes = nearest(from, q, target, want, resp.empty_lists);
    // Beside an item, only as many nodes as keep the reply within one datagram on a 1,500-byte
    // path: a put or republish lookup needs them to get past the holders.
    const bool item = resp.item.has_value();
    rpc_.respond(from, m.transaction, std::move(resp),
                 item ? config_.max_reply : std::numeric_limits<std::size_t>::max());
}

namespace {

// An answer as Rpc::respond sends it, with the longest envelope there can be.
std::size_t worst_case_size(const NodeConfig& config, krpc::Response r) {
    krpc::Message m;
    m.transaction = std::string(krpc::kMaxTransactionId, 't');
    if (!config.version.empty()) m.version = config.version;
    m.requester = Endpoint::v6({}, 65535);
    r.id = NodeId{};
    r.token = std::string(WriteTokens::kSize, 't');
    r.empty_lists = krpc::Want{true, true};  // "nodes" and "nodes6" are sent even when empty
    m.body = std::move(r);
    return krpc::encode(m).size();
}

}  // namespace

std::size_t value_reply_size(const NodeConfig& config, std::string_view key,
                             std::string_view value) {
    krpc::Response r;
    r.item =
        krpc::Item{std::string(key), std::string(value), std::numeric_limits<std::int64_t>::max()};
    return worst_case_size(config, std::move(r));
}

std::size_t item_reply_size(const NodeConfig& config, std::string_view value) {
    krpc::Response r;
    krpc::DataItem d;
    d.value = std::string(value);
    d.seq = std::numeric_limits<std::int64_t>::max();
    d.key = std::string(kEd25519KeySize, 'k');
    d.signature = std::string(kEd25519SignatureSize, 's');
    r.data = std::move(d);
    return worst_case_size(config, std::move(r));
}

std::string reply_budget_error(const NodeConfig& config, std::size_t reply_size) {
    if (reply_size <= config.max_reply) return {};
    return "value too large to answer within " + std::to_string(config.max_reply) +
           " bytes (its answer: " + std::to_string(reply_size) + ")";
}

std::optional<krpc::Error> QueryHandler::check_store(const Endpoint& from,
                                                     const krpc::StoreArgs& a) const {
    if (!tokens_.valid(a.token, from)) return krpc::Error{krpc::kProtocolError, "bad token"};
    if (!store_refusal_.empty()) return krpc::Error{krpc::kServerError, store_refusal_};
    if (NodeId::from_key(a.key) != a.target) {
        return krpc::Error{krpc::kProtocolError, "'k' does not hash to 'target'"};
    }
    if (auto why = storage_.size_error(a.key, a.value); !why.empty()) {
        return krpc::Error{krpc::kMessageTooBig, why};
    }
    const std::size_t reply = value_reply_size(config_, a.key, a.value);
    if (auto why = reply_budget_error(config_, reply); !why.empty()) {
        ++stats_.stores_over_budget;
        return krpc::Error{krpc::kMessageTooBig, why};
    }
    return std::nullopt;
}

krpc::Error QueryHandler::refusal(const Storage& store, StoreResult result, const Endpoint& from,
                                  const NodeId& target) {
    switch (result) {
        case StoreResult::SeqTooLow:
            return {krpc::kSeqTooLow, "sequence number less than current (" +
                                          std::to_string(store.find(target)->seq) + ")"};
        case StoreResult::SeqConflict:
            return {krpc::kSeqTooLow, "sequence number equal to current, value differs"};
        case StoreResult::SeqTooHigh: {
            const StoredItem* held = store.find(target);
            const std::int64_t most =
                held ? store.max_seq_for(held->seq) : store.config().max_new_seq;
            return {krpc::kProtocolError,
                    "seq too far above current (at most " + std::to_string(most) + ")"};
        }
        case StoreResult::SeqInvalid:
            return {krpc::kProtocolError, to_string(result)};
        case StoreResult::TooManyItems:
        case StoreResult::StorageFull:
            ++stats_.stores_full;
            return {krpc::kServerError, to_string(result)};
        case StoreResult::QuotaExceeded: {
            ++stats_.stores_over_quota;
            const Storage::Usage* u = store.usage(from);
            return {krpc::kServerError, "quota: this address holds " +
                                            std::to_string(u ? u->items : 0) + "/" +
                                            std::to_string(store.source_item_limit()) + " items, " +
                                            std::to_string(u ? u->bytes : 0) + "/" +
                                            std::to_string(store.source_byte_limit()) + " bytes"};
        }
        case StoreResult::KeyTooLarge:
        case StoreResult::ValueTooLarge:
            return {krpc::kMessageTooBig, to_string(result)};
        case StoreResult::Stored:
        case StoreResult::Updated:
        case StoreResult::Refreshed:
            break;
    }
    return {krpc::kServerError, to_string(result)};
}

void QueryHandler::refuse(const Endpoint& from, const krpc::Message& m, krpc::Error e) {
    ++stats_.stores_refused;
    KAD_LOG(log_, Debug, "refused a store from " + from.to_string() + ": " + e.message);
    rpc_.error(from, m.transaction, e.code, std::move(e.message));
}

void QueryHandler::answer_get_peers(const Endpoint& from, const krpc::Message& m,
                                    const krpc::Query& q) {
    const auto& a = std::get<krpc::GetPeersArgs>(q.args);
    krpc::Response resp{.id = self_};
    resp.token = tokens_.issue(from);
    resp.nodes = nearest(from, q, a.info_hash, a.want, resp.empty_lists);
    if (peers_.has(a.info_hash)) {
        // Peers within one datagram, whatever the node list: the reply sheds nodes to fit.
        constexpr std::size_t kEnvelope = 200;  // id, token, ip, t, v and the keys
        std::vector<Endpoint> values = peers_.peers(
            a.info_hash, resp.empty_lists.v4, resp.empty_lists.v6, config_.max_peers_reply, rng_);
        std::size_t bytes = kEnvelope;
        std::size_t fit = 0;
        for (; fit < values.size(); ++fit) {
            bytes += values[fit].is_v4() ? krpc::kCompactPeerV4 + 2 : krpc::kCompactPeerV6 + 3;
            if (bytes > config_.max_reply) break;
        }
        values.resize(fit);
        if (!values.empty()) resp.values = std::move(values);
    }
    rpc_.respond(from, m.transaction, std::move(resp), config_.max_reply);
}

void QueryHandler::answer_announce(const Endpoint& from, const krpc::Message& m,
                                   const krpc::AnnouncePeerArgs& a) {
    if (!tokens_.valid(a.token, from)) {
        ++stats_.announces_refused;
        KAD_LOG(log_, Debug, "refused an announce from " + from.to_string() + ": bad token");
        rpc_.error(from, m.transaction, krpc::kProtocolError, "bad token");
        return;
    }
    // BEP 5: with implied_port, the port the datagram came from (a peer behind a NAT).
    const auto port = a.implied_port ? from.port() : static_cast<std::uint16_t>(a.port);
    if (peers_.announce(now_, a.info_hash, from.with_port(port)) == PeerStore::Result::Replaced) {
        ++stats_.announces_dropped;
    }
    ++stats_.announces_accepted;
    rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
}

void QueryHandler::answer_store(const Endpoint& from, const krpc::Message& m,
                                const krpc::StoreArgs& a) {
    if (auto e = check_store(from, a)) return refuse(from, m, std::move(*e));
    std::optional<Duration> ttl;
    if (a.ttl) {
        const auto max_s =
            std::chrono::duration_cast<std::chrono::seconds>(storage_.config().max_ttl).count();
        ttl = std::chrono::seconds(std::min<std::int64_t>(*a.ttl, max_s));
    }
    const StoreResult res = storage_.store(
        now_, {.key = a.key, .value = a.value, .seq = a.seq, .ttl = ttl, .source = from});
    if (!accepted(res)) return refuse(from, m, refusal(storage_, res, from, a.target));
    // Its journal could not keep it (Node::refuse_stores, set as it was written): not
    // acknowledged, since a crash would lose it.
    if (!store_refusal_.empty()) return refuse(from, m, {krpc::kServerError, store_refusal_});
    ++stats_.stores_accepted;
    if (stored_) stored_(a.target);
    KAD_LOG(log_, Info,
            "stored '" + a.key + "' (seq " + std::to_string(a.seq) + ", " +
                std::to_string(a.value.size()) + " bytes) from " + from.to_string());
    rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
}

// ---- BEP 51 ---------------------------------------------------------------------------------

void QueryHandler::answer_samples(const Endpoint& from, const krpc::Message& m,
                                  const krpc::Query& q) {
    const auto& a = std::get<krpc::SampleInfohashesArgs>(q.args);
    // One sample for sample_interval, so that a crawler learns nothing more by asking again;
    // drawn again sooner only while it is short of what the store could give, or names a swarm
    // that has expired.
    const std::size_t full = std::min(config_.max_samples, peers_.swarms());
    const bool stale = std::any_of(sample_.begin(), sample_.end(),
                                   [&](const NodeId& h) { return !peers_.has(h); });
    if (now_ >= sample_until_ || sample_.size() < full || stale) {
        sample_ = peers_.sample_swarms(config_.max_samples, rng_);
        sample_until_ = now_ + config_.sample_interval;
    }
    krpc::Response resp{.id = self_};
    resp.nodes = nearest(from, q, a.target, a.want, resp.empty_lists);
    krpc::Samples s;
    s.interval = std::chrono::duration_cast<std::chrono::seconds>(sample_until_ - now_).count();
    s.num = static_cast<std::int64_t>(peers_.swarms());
    s.samples = sample_;
    resp.samples = std::move(s);
    ++stats_.samples_sent;
    rpc_.respond(from, m.transaction, std::move(resp), config_.max_reply);
}

// ---- Watches: listen and notify --------------------------------------------------------------

void QueryHandler::answer_listen(const Endpoint& from, const krpc::Message& m,
                                 const krpc::Query& q) {
    const auto& a = std::get<krpc::ListenArgs>(q.args);
    auto refuse_listen = [&](int code, std::string why) {
        ++stats_.listens_refused;
        KAD_LOG(log_, Debug, "refused a listen from " + from.to_string() + ": " + why);
        rpc_.error(from, m.transaction, code, std::move(why));
    };
    if (!tokens_.valid(a.token, from)) return refuse_listen(krpc::kProtocolError, "bad token");
    // BEP 43: it answers no queries, so it would never take a notify.
    if (m.read_only) return refuse_listen(krpc::kProtocolError, "a read-only node takes no notify");
    std::optional<Duration> ttl;
    if (a.ttl) {
        // Cut before it becomes a Duration: a huge "ttl" would overflow it.
        const auto max_s =
            std::chrono::duration_cast<std::chrono::seconds>(listeners_.config().max_ttl).count();
        ttl = std::chrono::seconds(std::min<std::int64_t>(*a.ttl, max_s));
    }
    const auto added = listeners_.add(a.target, {{q.id, from}, a.tag, ttl, a.seq}, now_);
    if (added == Listeners::Added::Full) {
        return refuse_listen(krpc::kServerError, "too many listeners");
    }
    if (added == Listeners::Added::SourceFull) {
        return refuse_listen(krpc::kServerError,
                             "quota: this address holds " +
                                 std::to_string(listeners_.config().per_source) + " listens");
    }
    ++stats_.listens_accepted;
    rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
    // A version newer than the watcher knows (stored since its lookup asked us) is told now.
    if (listened_) listened_(a.target);
}

void QueryHandler::answer_notify(const Endpoint& from, const krpc::Message& m,
                                 const krpc::Query& q) {
    const auto& a = std::get<krpc::NotifyArgs>(q.args);
    auto reject = [&](int code, std::string why) {
        ++stats_.notifies_rejected;
        KAD_LOG(log_, Debug, "rejected a notify from " + from.to_string() + ": " + why);
        rpc_.error(from, m.transaction, code, std::move(why));
    };
    if (NodeId::from_key(a.key) != a.target) {
        return reject(krpc::kProtocolError, "'k' does not hash to 'target'");
    }
    if (auto why = storage_.size_error(a.key, a.value); !why.empty()) {
        return reject(krpc::kMessageTooBig, why);
    }
    if (!notified_ || !notified_({q.id, from}, a.tag, {a.key, a.value, a.seq})) {
        return reject(krpc::kGenericError, "not listening");
    }
    ++stats_.notifies_received;
    rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
}

// ---- BEP 44 ---------------------------------------------------------------------------------

void QueryHandler::answer_get(const Endpoint& from, const krpc::Message& m, const krpc::Query& q) {
    const auto& a = std::get<krpc::GetArgs>(q.args);
    krpc::Response resp{.id = self_};
    resp.token = tokens_.issue(from);
    // BEP 44 wants "nodes" and "nodes6" in every get answer; the asker's families, as BEP 32 says.
    resp.nodes = nearest(from, q, a.target, a.want, resp.empty_lists);
    if (const StoredItem* item = items_.find(a.target)) {
        krpc::DataItem d;
        const bool is_mutable = !item->signature.empty();
        if (is_mutable) d.seq = item->seq;
        // With "seq", the value only if ours is newer: the asker has that one already.
        if (!is_mutable || !a.seq || item->seq > *a.seq) {
            d.value = item->value;
            if (is_mutable) {
                d.key = item->key.substr(0, kEd25519KeySize);
                d.signature = item->signature;
            }
        }
        resp.data = std::move(d);
    }
    rpc_.respond(from, m.transaction, std::move(resp), config_.max_reply);
}

std::optional<krpc::Error> QueryHandler::check_put(const Endpoint& from, const krpc::PutArgs& a,
                                                   const NodeId& target) const {
    if (!tokens_.valid(a.token, from)) return krpc::Error{krpc::kProtocolError, "bad token"};
    if (!store_refusal_.empty()) return krpc::Error{krpc::kServerError, store_refusal_};
    if (a.value.size() > std::min(bep44::kMaxValueSize, items_.config().max_value_size)) {
        return krpc::Error{krpc::kMessageTooBig, "message ('v' field) too big"};
    }
    if (auto why = reply_budget_error(config_, item_reply_size(config_, a.value)); !why.empty()) {
        ++stats_.stores_over_budget;
        return krpc::Error{krpc::kMessageTooBig, why};
    }
    if (!a.is_mutable()) return std::nullopt;
    const std::string_view salt = a.salt ? std::string_view(*a.salt) : std::string_view();
    if (salt.size() > bep44::kMaxSaltSize) {
        return krpc::Error{krpc::kSaltTooBig, "salt ('salt' field) too big"};
    }
    if (!ed25519_verify(*a.key, bep44::signed_bytes(salt, *a.seq, a.value), *a.signature)) {
        return krpc::Error{krpc::kInvalidSignature, "invalid signature"};
    }
    // BEP 44: "cas" is compared with what is stored, and ignored when nothing is.
    if (const StoredItem* held = items_.find(target); held && a.cas && *a.cas != held->seq) {
        return krpc::Error{krpc::kCasMismatch, "the CAS seq mismatched (" +
                                                   std::to_string(held->seq) +
                                                   " held), re-read value and try again"};
    }
    return std::nullopt;
}

void QueryHandler::answer_put(const Endpoint& from, const krpc::Message& m,
                              const krpc::PutArgs& a) {
    const std::string_view salt = a.salt ? std::string_view(*a.salt) : std::string_view();
    const NodeId target =
        a.is_mutable() ? bep44::mutable_target(*a.key, salt) : bep44::immutable_target(a.value);
    auto refuse_put = [&](krpc::Error e) {
        ++stats_.puts_refused;
        KAD_LOG(log_, Debug, "refused a put from " + from.to_string() + ": " + e.message);
        rpc_.error(from, m.transaction, e.code, std::move(e.message));
    };
    if (auto e = check_put(from, a, target)) return refuse_put(std::move(*e));
    const std::string key = a.is_mutable() ? bep44::storage_key(*a.key, salt) : std::string();
    const StoreResult res = items_.store(now_, {.key = key,
                                                .value = a.value,
                                                .seq = a.seq.value_or(0),
                                                .source = from,
                                                .target = target,
                                                .signature = a.signature.value_or("")});
    if (!accepted(res)) return refuse_put(refusal(items_, res, from, target));
    if (!store_refusal_.empty()) return refuse_put({krpc::kServerError, store_refusal_});
    ++stats_.puts_accepted;
    KAD_LOG(log_, Info,
            std::string(a.is_mutable() ? "mutable" : "immutable") + " item " + target.short_hex() +
                " (seq " + std::to_string(a.seq.value_or(0)) + ", " +
                std::to_string(a.value.size()) + " bytes) from " + from.to_string());
    rpc_.respond(from, m.transaction, krpc::Response{.id = self_});
}

}  // namespace kad
