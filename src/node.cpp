#include "kad/node.hpp"

#include <algorithm>
#include <limits>
#include <unordered_set>

#include "kad/crypto.hpp"

namespace kad {

using krpc::Method;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kTokenSize = 8;

std::size_t method_index(Method m) {
    return static_cast<std::size_t>(m);
}

NodeConfig normalized(NodeConfig c) {
    c.k = std::max<std::size_t>(c.k, 1);
    c.alpha = std::max<std::size_t>(c.alpha, 1);
    c.routing.k = c.k;
    if (c.rpc_timeout <= Duration::zero()) c.rpc_timeout = 2s;
    c.soft_timeout_max = std::min(c.soft_timeout_max, c.rpc_timeout);
    c.soft_timeout_min = std::min(c.soft_timeout_min, c.soft_timeout_max);
    c.lookup_attempts = std::max(c.lookup_attempts, 1);
    c.lookup_candidates = std::max(c.lookup_candidates, c.k);
    c.max_transactions = std::max<std::size_t>(c.max_transactions, 1);
    if (c.bucket_refresh <= Duration::zero()) c.bucket_refresh = 1h;
    if (c.token_rotation <= Duration::zero()) c.token_rotation = 5min;
    return c;
}

// Why an RPC did not succeed, in a person's words.
std::string failure_text(const RpcEvent& e) {
    if (e.kind == RpcEventKind::ErrorReply && e.message) {
        const auto& err = std::get<krpc::Error>(e.message->body);
        return "refused with error " + std::to_string(err.code) + ": " + err.message;
    }
    return e.reason;
}

std::int64_t ttl_seconds(Duration ttl) {
    return std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(ttl).count());
}

krpc::Query make_query(const NodeId& self, Method m, const NodeId& target) {
    krpc::Query q;
    q.id = self;
    if (m == Method::FindValue) {
        q.args = krpc::FindValueArgs{target, std::nullopt};
    } else if (m == Method::FindNode) {
        q.args = krpc::FindNodeArgs{target, std::nullopt};
    } else {
        q.args = krpc::PingArgs{};
    }
    return q;
}

}  // namespace

struct Node::LookupOp {
    Lookup lookup;
    bool find_value = false;
    bool cancelled = false;
    TimePoint started{};
    std::function<void(LookupOp&)> on_done;
};

struct Node::BootstrapState {
    Callback<BootstrapResult> cb;
    TimePoint started{};
    std::size_t pending_pings = 0;
    std::size_t pending_lookups = 0;
    bool lookup_started = false;
    bool finished = false;
    std::vector<std::string> errors;
};

Node::Node(NodeConfig config, const NodeId& id, Transport& transport, RandomSource& rng,
           TimePoint now)
    : config_(normalized(std::move(config))),
      id_(id),
      transport_(transport),
      rng_(rng),
      now_(now),
      table_(id, config_.routing, now),
      storage_(config_.storage),
      txns_(config_.max_transactions),
      limiter_(config_.rate_limit) {
    rng_.fill(secret_);
    rng_.fill(previous_secret_);
    rotate_at_ = now + config_.token_rotation;
}

Node::~Node() = default;

// ---- time ---------------------------------------------------------------------------------------

void Node::advance(TimePoint now) {
    if (now > now_) now_ = now;
    // An item past its expiry is never served, even if the timer that removes it is late.
    if (storage_.next_expiry() <= now_) storage_.expire(now_);
}

TimePoint Node::next_maintenance() const {
    const TimePoint republish =
        storage_.size() > 0 ? std::max(next_republish_scan_, now_) : TimePoint::max();
    return std::min({rotate_at_, storage_.next_expiry(),
                     table_.next_refresh(config_.bucket_refresh), republish});
}

TimePoint Node::next_timeout() const {
    return std::min(txns_.next_deadline(), next_maintenance());
}

void Node::handle_timeout(TimePoint now) {
    advance(now);
    std::vector<std::uint16_t> soft;
    std::vector<TransactionTable::Entry> hard;
    txns_.expire(now_, soft, hard);
    for (std::uint16_t tid : soft) {
        const auto* e = txns_.find(tid);
        if (!e) continue;
        ++stats_.soft_timeouts;
        RpcHandler handler = e->handler;  // the handler may open or close transactions
        handler(RpcEvent{RpcEventKind::SoftTimeout, nullptr, {}, {}, false});
    }
    for (auto& e : hard) {
        ++stats_.hard_timeouts;
        KAD_LOG(log_, Debug,
                "no reply from " + e.to.to_string() + " to " + std::string(method_name(e.method)));
        std::optional<NodeId> id = e.expected_id;
        if (!id) {
            if (const Contact* c = table_.find(e.to)) id = c->id;
        }
        if (id) maybe_ping(table_.on_failed(now_, *id, e.to));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.rpc_timeout);
        e.handler(RpcEvent{RpcEventKind::Failed,
                           nullptr,
                           {},
                           "no reply within " + std::to_string(ms.count()) + " ms",
                           true});
    }
    if (now_ >= next_maintenance()) maintenance();
}

void Node::maintenance() {
    if (now_ >= rotate_at_) rotate_secret();
    storage_.expire(now_);
    if (storage_.size() > 0 && now_ >= next_republish_scan_) republish_due();
    if (now_ >= table_.next_refresh(config_.bucket_refresh)) {
        for (std::size_t i : table_.buckets_due(now_, config_.bucket_refresh)) {
            const NodeId target = table_.random_id_in_bucket(i, rng_);
            table_.touch(target, now_);
            if (table_.size() == 0) continue;  // nobody to ask; try again next interval
            if (start_lookup(target, false, false, 0, nullptr, [](LookupOp&) {}) != 0) {
                ++stats_.bucket_refreshes;
            }
        }
    }
}

void Node::rotate_secret() {
    // Tokens stay valid for one to two rotation periods: the current secret and the one before.
    previous_secret_ = secret_;
    rng_.fill(secret_);
    rotate_at_ = now_ + config_.token_rotation;
}

std::string Node::token_for(const Endpoint& ep) const {
    const auto mac = hmac_sha256(secret_, ep.address_raw());
    return std::string(reinterpret_cast<const char*>(mac.data()), kTokenSize);
}

bool Node::token_valid(const std::string& token, const Endpoint& from) const {
    const auto prev = hmac_sha256(previous_secret_, from.address_raw());
    const std::string_view old_token(reinterpret_cast<const char*>(prev.data()), kTokenSize);
    // Evaluate both comparisons: the time taken must not say which secret matched.
    const bool current = constant_time_equal(token, token_for(from));
    const bool previous = constant_time_equal(token, old_token);
    return current || previous;
}

// ---- sending ------------------------------------------------------------------------------------

void Node::send_message(const Endpoint& to, const krpc::Message& m) {
    out_.clear();
    krpc::encode_to(out_, m);
    send_encoded(to);
}

void Node::send_encoded(const Endpoint& to) {
    ++stats_.packets_out;
    stats_.bytes_out += out_.size();
    transport_.send(to, out_);
}

void Node::send_error(const Endpoint& to, const std::string& t, int code, std::string message) {
    if (message.size() > config_.max_error_message) message.resize(config_.max_error_message);
    krpc::Message m;
    m.transaction = t;
    m.version = config_.version;
    m.body = krpc::Error{code, std::move(message)};
    ++stats_.errors_out;
    send_message(to, m);
}

Duration Node::soft_timeout_for(const std::optional<NodeId>& id) const {
    Duration base = config_.soft_timeout_initial;
    const Contact* c = id ? table_.find(*id) : nullptr;
    if (c && c->srtt) {
        base = *c->srtt + 4 * c->rttvar;
    } else if (global_rtt_.srtt) {
        base = *global_rtt_.srtt + 4 * global_rtt_.rttvar;
    }
    return std::clamp(base, config_.soft_timeout_min, config_.soft_timeout_max);
}

bool Node::send_query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
                      RpcHandler handler) {
    auto tid = txns_.allocate(rng_);
    if (!tid) {
        ++stats_.transactions_full;
        return false;
    }
    const Method method = query.method();
    TransactionTable::Entry e;
    e.tid = *tid;
    e.to = to;
    e.expected_id = id;
    e.method = method;
    e.sent = now_;
    e.hard_deadline = now_ + config_.rpc_timeout;
    e.soft_deadline = std::min(now_ + soft_timeout_for(id), e.hard_deadline);
    e.handler = std::move(handler);
    txns_.add(std::move(e));

    krpc::Message m;
    m.transaction = TransactionTable::encode_tid(*tid);
    m.version = config_.version;
    m.body = std::move(query);
    ++stats_.queries_out[method_index(method)];
    KAD_LOG(log_, Trace, "query " + std::string(method_name(method)) + " to " + to.to_string());
    send_message(to, m);
    return true;
}

void Node::maybe_ping(const std::optional<PingRequest>& req) {
    if (!req) return;
    if (maintenance_pings_ >= config_.max_maintenance_pings) {
        ++stats_.maintenance_pings_skipped;
        table_.on_ping_abandoned(req->id);
        return;
    }
    ++maintenance_pings_;
    ++stats_.maintenance_pings;
    // The routing table learns the outcome centrally (on_reply / hard timeout); the handler
    // only returns the budget.
    const bool sent = send_query(
        req->endpoint, req->id, make_query(id_, Method::Ping, id_), [this](const RpcEvent& e) {
            if (e.kind != RpcEventKind::SoftTimeout && maintenance_pings_ > 0) {
                --maintenance_pings_;
            }
        });
    if (!sent) {
        --maintenance_pings_;
        table_.on_ping_abandoned(req->id);
    }
}

std::optional<std::string> Node::unreachable(const Endpoint& to) const {
    if (to.is_unusable()) return "cannot send to " + to.to_string();
    if (!transport_.can_reach(to)) {
        return "cannot reach " + to.to_string() + " from this socket" +
               (to.is_v6() ? " (IPv6 needs a node bound to [::]:PORT)" : "");
    }
    return std::nullopt;
}

// ---- receiving ----------------------------------------------------------------------------------

void Node::handle_datagram(TimePoint now, const Endpoint& sender, std::string_view datagram) {
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
    auto decoded = krpc::decode(datagram, scratch_, config_.limits);
    if (!decoded) {
        if (!admit(from)) return;
        const auto& f = decoded.error();
        if (f.kind == krpc::DecodeFailureKind::BadQuery) {
            ++stats_.bad_queries;
            KAD_LOG(log_, Debug, "answered 203 to " + from.to_string() + ": " + f.reason);
            send_error(from, f.transaction, krpc::kProtocolError, f.reason);
        } else {
            ++stats_.malformed_dropped;
            KAD_LOG(log_, Debug,
                    "dropped a malformed datagram from " + from.to_string() + ": " + f.reason);
        }
        return;
    }
    const krpc::Message& m = *decoded;
    if (const auto* q = std::get_if<krpc::Query>(&m.body)) {
        if (admit(from)) on_query(from, m, *q);
    } else {
        on_reply(from, m);
    }
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

void Node::on_query(const Endpoint& from, const krpc::Message& m, const krpc::Query& q) {
    const Method method = q.method();
    ++stats_.queries_in[method_index(method)];
    KAD_LOG(log_, Trace,
            "query " + std::string(method_name(method)) + " from " + from.to_string() + " (" +
                q.id.short_hex() + ")");
    answer(from, m, q);
    // Only then, so the asker is not kept waiting: perhaps verify it for our routing table.
    if (method != Method::Unknown) {
        maybe_ping(table_.on_heard_of(now_, q.id, from));
        if (contact_observer_) contact_observer_(now_, q.id, from);
    }
}

void Node::answer(const Endpoint& from, const krpc::Message& m, const krpc::Query& q) {
    switch (q.method()) {
        case Method::Ping: {
            krpc::Message r;
            r.transaction = m.transaction;
            r.version = config_.version;
            r.requester = from;
            r.body = krpc::Response{id_, {}, std::nullopt, std::nullopt};
            ++stats_.responses_out;
            send_message(from, r);
            return;
        }
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
            answer_store(from, m, q, std::get<krpc::StoreArgs>(q.args));
            return;
        case Method::Unknown:
            ++stats_.unknown_methods;
            send_error(from, m.transaction, krpc::kMethodUnknown, "method unknown");
            return;
    }
}

void Node::answer_find(const Endpoint& from, const krpc::Message& m, const krpc::Query& q,
                       const NodeId& target, const std::optional<krpc::Want>& want, bool value) {
    krpc::Response resp;
    resp.id = id_;
    if (value) {
        resp.token = token_for(from);
        if (const StoredItem* item = storage_.find(target)) {
            resp.item = krpc::Item{item->key, item->value, item->seq};
        }
    }
    ContactFilter filter;
    filter.exclude = q.id;  // never the asker
    if (want) {
        filter.v4 = want->v4;
        filter.v6 = want->v6;
    } else {  // BEP 32: without "want", the asker's own address family
        filter.v4 = from.is_v4();
        filter.v6 = from.is_v6();
    }
    table_.closest(target, config_.k, filter, closest_);
    resp.nodes.reserve(closest_.size());
    for (const Contact* c : closest_) resp.nodes.push_back({c->id, c->endpoint});

    krpc::Message r;
    r.transaction = m.transaction;
    r.version = config_.version;
    r.requester = from;
    r.body = std::move(resp);
    ++stats_.responses_out;
    if (!std::get<krpc::Response>(r.body).item) return send_message(from, r);
    // Beside an item, only as many nodes as keep the reply within one datagram on a 1,500-byte
    // path: a put or republish lookup needs them to get past the holders.
    auto& nodes = std::get<krpc::Response>(r.body).nodes;
    for (;;) {
        out_.clear();
        krpc::encode_to(out_, r);
        if (out_.size() <= config_.max_reply || nodes.empty()) break;
        nodes.pop_back();  // the farthest first
    }
    send_encoded(from);  // out_ holds it
}

void Node::answer_store(const Endpoint& from, const krpc::Message& m, const krpc::Query&,
                        const krpc::StoreArgs& a) {
    auto refuse = [&](int code, std::string why) {
        ++stats_.stores_refused;
        KAD_LOG(log_, Debug, "refused a store from " + from.to_string() + ": " + why);
        send_error(from, m.transaction, code, std::move(why));
    };
    if (!token_valid(a.token, from)) return refuse(krpc::kProtocolError, "bad token");
    if (NodeId::from_key(a.key) != a.target) {
        return refuse(krpc::kProtocolError, "'k' does not hash to 'target'");
    }
    const auto& limits = storage_.config();
    switch (storage_.check_sizes(a.key, a.value)) {
        case StoreResult::KeyTooLarge:
            return refuse(krpc::kMessageTooBig, "key too large (" + std::to_string(a.key.size()) +
                                                    " > " + std::to_string(limits.max_key_size) +
                                                    " bytes)");
        case StoreResult::ValueTooLarge:
            return refuse(krpc::kMessageTooBig,
                          "value too large (" + std::to_string(a.value.size()) + " > " +
                              std::to_string(limits.max_value_size) + " bytes)");
        default:
            break;
    }
    std::optional<Duration> ttl;
    if (a.ttl) {
        const auto max_s = std::chrono::duration_cast<std::chrono::seconds>(limits.max_ttl).count();
        ttl = std::chrono::seconds(std::min<std::int64_t>(*a.ttl, max_s));
    }
    const StoreResult res = storage_.store(now_, a.key, a.value, a.seq, ttl, false, from);
    switch (res) {
        case StoreResult::SeqTooLow:
            return refuse(krpc::kSeqTooLow, "sequence number less than current (" +
                                                std::to_string(storage_.find(a.target)->seq) + ")");
        case StoreResult::SeqConflict:
            return refuse(krpc::kSeqTooLow, "sequence number equal to current, value differs");
        case StoreResult::TooManyItems:
        case StoreResult::StorageFull:
            ++stats_.stores_full;
            return refuse(krpc::kServerError, to_string(res));
        case StoreResult::QuotaExceeded: {
            ++stats_.stores_over_quota;
            const Storage::Usage* u = storage_.usage(from);
            return refuse(krpc::kServerError,
                          "quota: this address holds " + std::to_string(u ? u->items : 0) + "/" +
                              std::to_string(storage_.source_item_limit()) + " items, " +
                              std::to_string(u ? u->bytes : 0) + "/" +
                              std::to_string(storage_.source_byte_limit()) + " bytes");
        }
        case StoreResult::KeyTooLarge:
        case StoreResult::ValueTooLarge:
            return refuse(krpc::kMessageTooBig, to_string(res));
        case StoreResult::Stored:
        case StoreResult::Updated:
        case StoreResult::Refreshed:
            break;
    }
    ++stats_.stores_accepted;
    // Just stored to us: our own republish can wait an interval (another holder did it).
    const TimePoint at = now_ + jittered_republish();
    storage_.set_republish_at(a.target, at);
    next_republish_scan_ = std::min(next_republish_scan_, at);
    KAD_LOG(log_, Info,
            "stored '" + a.key + "' (seq " + std::to_string(a.seq) + ", " +
                std::to_string(a.value.size()) + " bytes) from " + from.to_string());
    krpc::Message r;
    r.transaction = m.transaction;
    r.version = config_.version;
    r.requester = from;
    r.body = krpc::Response{id_, {}, std::nullopt, std::nullopt};
    ++stats_.responses_out;
    send_message(from, r);
}

void Node::on_reply(const Endpoint& from, const krpc::Message& m) {
    const auto* resp = std::get_if<krpc::Response>(&m.body);
    std::optional<NodeId> replier;
    if (resp) replier = resp->id;
    TransactionTable::Entry e;
    switch (txns_.take(m.transaction, from, replier, e)) {
        case TransactionTable::Match::UnknownTransaction:
            ++stats_.unmatched_replies;
            admit(from);  // charged: a stream of stray replies is a flood like any other
            return;
        case TransactionTable::Match::WrongEndpoint:
            ++stats_.wrong_endpoint;
            admit(from);
            return;
        case TransactionTable::Match::WrongId:
            ++stats_.wrong_id;
            maybe_ping(table_.on_failed(now_, *e.expected_id, e.to));
            e.handler(RpcEvent{RpcEventKind::Failed,
                               &m,
                               {},
                               "answered as " + replier->to_hex() + ", not the expected " +
                                   e.expected_id->to_hex(),
                               false});
            return;
        case TransactionTable::Match::Ok:
            break;
    }
    const Duration rtt = now_ - e.sent;
    if (!resp) {
        ++stats_.errors_in;
        e.handler(RpcEvent{RpcEventKind::ErrorReply, &m, rtt, {}, false});
        return;
    }
    ++stats_.responses_in;
    if (auto why = krpc::validate_response(e.method, *resp); !why.empty()) {
        ++stats_.bad_responses;
        e.handler(RpcEvent{RpcEventKind::Failed, &m, rtt, "bad response: " + why, false});
        return;
    }
    if (m.requester) external_ = m.requester;
    const bool known = table_.contains(resp->id);
    table_.on_answered(now_, resp->id, from, rtt);
    if (!known && table_.contains(resp->id)) on_new_contact(resp->id, from);
    if (contact_observer_) contact_observer_(now_, resp->id, from);
    if (!global_rtt_.srtt) {
        global_rtt_.srtt = rtt;
        global_rtt_.rttvar = rtt / 2;
    } else {
        const Duration diff =
            *global_rtt_.srtt > rtt ? *global_rtt_.srtt - rtt : rtt - *global_rtt_.srtt;
        global_rtt_.rttvar = (global_rtt_.rttvar * 3 + diff) / 4;
        global_rtt_.srtt = (*global_rtt_.srtt * 7 + rtt) / 8;
    }
    e.handler(RpcEvent{RpcEventKind::Reply, &m, rtt, {}, false});
}

// ---- single RPCs --------------------------------------------------------------------------------

void Node::ping(TimePoint now, const Endpoint& to_, std::optional<NodeId> id,
                Callback<PingResult> cb) {
    advance(now);
    const Endpoint to = to_.normalized();
    PingResult fail;
    fail.endpoint = to;
    if (auto why = unreachable(to)) {
        fail.error = *why;
        return cb(fail);
    }
    const bool sent =
        send_query(to, id, make_query(id_, Method::Ping, id_), [to, cb](const RpcEvent& e) {
            if (e.kind == RpcEventKind::SoftTimeout) return;
            PingResult r;
            r.endpoint = to;
            if (e.kind == RpcEventKind::Reply) {
                r.ok = true;
                r.id = std::get<krpc::Response>(e.message->body).id;
                r.rtt = e.rtt;
            } else {
                r.error = failure_text(e);
            }
            cb(r);
        });
    if (!sent) {
        fail.error = "too many queries in flight";
        cb(fail);
    }
}

void Node::find_node(TimePoint now, const Endpoint& to_, std::optional<NodeId> id,
                     const NodeId& target, Callback<FindNodeResult> cb) {
    advance(now);
    const Endpoint to = to_.normalized();
    FindNodeResult fail;
    fail.endpoint = to;
    if (auto why = unreachable(to)) {
        fail.error = *why;
        return cb(fail);
    }
    const bool sent =
        send_query(to, id, make_query(id_, Method::FindNode, target), [to, cb](const RpcEvent& e) {
            if (e.kind == RpcEventKind::SoftTimeout) return;
            FindNodeResult r;
            r.endpoint = to;
            if (e.kind == RpcEventKind::Reply) {
                const auto& resp = std::get<krpc::Response>(e.message->body);
                r.ok = true;
                r.id = resp.id;
                r.nodes = resp.nodes;
                r.rtt = e.rtt;
            } else {
                r.error = failure_text(e);
            }
            cb(r);
        });
    if (!sent) {
        fail.error = "too many queries in flight";
        cb(fail);
    }
}

void Node::find_value(TimePoint now, const Endpoint& to_, std::optional<NodeId> id,
                      const std::string& key, Callback<FindValueResult> cb) {
    advance(now);
    const Endpoint to = to_.normalized();
    FindValueResult fail;
    fail.endpoint = to;
    if (auto why = unreachable(to)) {
        fail.error = *why;
        return cb(fail);
    }
    const NodeId target = NodeId::from_key(key);
    const bool sent = send_query(
        to, id, make_query(id_, Method::FindValue, target), [to, cb, target](const RpcEvent& e) {
            if (e.kind == RpcEventKind::SoftTimeout) return;
            FindValueResult r;
            r.endpoint = to;
            if (e.kind == RpcEventKind::Reply) {
                const auto& resp = std::get<krpc::Response>(e.message->body);
                r.ok = true;
                r.id = resp.id;
                r.item = resp.item;
                r.nodes = resp.nodes;
                r.token = resp.token;
                r.rtt = e.rtt;
                if (r.item && NodeId::from_key(r.item->key) != target) {
                    r.ok = false;
                    r.error = "it answered with an item for another key";
                    r.item.reset();
                }
            } else {
                r.error = failure_text(e);
            }
            cb(r);
        });
    if (!sent) {
        fail.error = "too many queries in flight";
        cb(fail);
    }
}

void Node::store(TimePoint now, const Endpoint& to, std::optional<NodeId> id, std::string key,
                 std::string value, PutOptions options, Callback<StoreRpcResult> cb) {
    advance(now);
    // Both the key and the value go in one datagram; refuse here rather than be refused.
    if (auto sizes = storage_.check_sizes(key, value); sizes != StoreResult::Stored) {
        StoreRpcResult r;
        r.endpoint = to.normalized();
        r.error = to_string(sizes);
        return cb(r);
    }
    const std::string lookup_key = key;  // `key` moves into the callback below
    find_value(now, to, id, lookup_key,
               [this, key = std::move(key), value = std::move(value), options,
                cb](const FindValueResult& fv) {
                   StoreRpcResult r;
                   r.endpoint = fv.endpoint;
                   r.id = fv.id;
                   if (!fv.ok) {
                       r.error = "no token: " + fv.error;
                       return cb(r);
                   }
                   if (!fv.token) {
                       r.error = "the node gave no token";
                       return cb(r);
                   }
                   if (options.seq) {
                       r.seq = *options.seq;
                   } else if (fv.item) {
                       if (fv.item->seq == std::numeric_limits<std::int64_t>::max()) {
                           r.error =
                               "the node holds the largest seq there is; nothing can "
                               "supersede it";
                           return cb(r);
                       }
                       r.seq = fv.item->seq + 1;
                   }
                   krpc::StoreArgs a;
                   a.target = NodeId::from_key(key);
                   a.token = *fv.token;
                   a.key = key;
                   a.value = value;
                   a.seq = r.seq;
                   if (options.ttl) a.ttl = ttl_seconds(*options.ttl);
                   krpc::Query q;
                   q.id = id_;
                   q.args = std::move(a);
                   const bool sent = send_query(
                       fv.endpoint, fv.id, std::move(q), [r, cb](const RpcEvent& e) mutable {
                           if (e.kind == RpcEventKind::SoftTimeout) return;
                           r.rtt = e.rtt;
                           if (e.kind == RpcEventKind::Reply) {
                               r.ok = true;
                           } else {
                               if (e.kind == RpcEventKind::ErrorReply) {
                                   r.error_code = std::get<krpc::Error>(e.message->body).code;
                               }
                               r.error = failure_text(e);
                           }
                           cb(r);
                       });
                   if (!sent) {
                       r.error = "too many queries in flight";
                       cb(r);
                   }
               });
}

// ---- lookups ------------------------------------------------------------------------------------

std::uint64_t Node::start_lookup(const NodeId& target, bool find_value, bool stop_at_value,
                                 std::int64_t min_seq, const StoredItem* local,
                                 std::function<void(LookupOp&)> on_done, std::size_t k) {
    if (lookups_.size() >= config_.max_lookups) {
        ++stats_.lookups_refused;
        return 0;
    }
    LookupParams p;
    p.target = target;
    p.self = id_;
    p.k = k ? k : config_.k;
    p.alpha = config_.alpha;
    p.stop_at_value = stop_at_value;
    p.max_attempts = config_.lookup_attempts;
    p.max_candidates = config_.lookup_candidates;
    p.min_seq = min_seq;
    auto op = std::make_unique<LookupOp>(
        LookupOp{Lookup(p), find_value, false, now_, std::move(on_done)});
    // Twice k seeds: when the nearest contacts have died unnoticed (their bucket still holds
    // them), the farther seeds move into the window as they time out, and the lookup goes on.
    table_.closest(target, 2 * config_.k, closest_);
    if (closest_.empty()) table_.closest(target, 2 * config_.k, closest_, true);
    for (const Contact* c : closest_) op->lookup.add_seed(c->id, c->endpoint);
    if (local) op->lookup.add_local_value(krpc::Item{local->key, local->value, local->seq}, id_);
    table_.touch(target, now_);
    ++stats_.lookups_started;
    const std::uint64_t lid = next_lookup_id_++;
    lookups_.emplace(lid, std::move(op));
    pump(lid);
    return lid;
}

void Node::pump(std::uint64_t lid) {
    for (;;) {
        auto it = lookups_.find(lid);
        if (it == lookups_.end()) return;
        LookupOp& op = *it->second;
        if (op.lookup.done()) {
            std::unique_ptr<LookupOp> owned = std::move(it->second);
            lookups_.erase(it);
            ++stats_.lookups_done;
            KAD_LOG(log_, Debug,
                    "lookup " + owned->lookup.target().short_hex() +
                        " done: " + std::to_string(owned->lookup.results().size()) + " nodes, " +
                        std::to_string(owned->lookup.hops()) + " hops, " +
                        std::to_string(owned->lookup.queries()) + " queries");
            ++stats_.lookup_hops[std::min<std::size_t>(
                static_cast<std::size_t>(owned->lookup.hops()), 15)];
            stats_.lookup_candidates_dropped += owned->lookup.dropped();
            owned->on_done(*owned);
            return;
        }
        auto batch = op.lookup.next_queries();
        if (batch.empty()) return;
        bool refused = false;
        const Method method = op.find_value ? Method::FindValue : Method::FindNode;
        for (const auto& c : batch) {
            if (!transport_.can_reach(c.endpoint)) {
                op.lookup.on_failed(c.id, true);
                refused = true;
                continue;
            }
            const NodeId cid = c.id;
            const bool sent =
                send_query(c.endpoint, c.id, make_query(id_, method, op.lookup.target()),
                           [this, lid, cid](const RpcEvent& e) { on_lookup_event(lid, cid, e); });
            if (!sent) {
                op.lookup.on_failed(c.id, true);
                refused = true;
            }
        }
        if (!refused) return;
        // Some queries could not be sent: the lookup may be done, or want others.
    }
}

void Node::on_lookup_event(std::uint64_t lid, const NodeId& cand, const RpcEvent& e) {
    auto it = lookups_.find(lid);
    if (it == lookups_.end()) return;  // finished or cancelled: a late answer
    Lookup& l = it->second->lookup;
    switch (e.kind) {
        case RpcEventKind::Reply: {
            const auto& resp = std::get<krpc::Response>(e.message->body);
            static const std::optional<krpc::Item> kNoItem;
            if (!it->second->find_value || !resp.item) {
                l.on_reply(cand, resp.nodes, resp.token, kNoItem);
            } else if (auto why = item_problem(*resp.item, l.target()); !why.empty()) {
                // A peer answering with an item for another key, or one we would refuse to
                // store, is not to be believed about anything else either.
                ++stats_.bad_items;
                KAD_LOG(log_, Debug, "ignored the answer of " + cand.short_hex() + ": " + why);
                l.on_failed(cand, true);
            } else {
                l.on_reply(cand, resp.nodes, resp.token, resp.item);
            }
            break;
        }
        case RpcEventKind::ErrorReply:
            l.on_failed(cand, true);
            break;
        case RpcEventKind::SoftTimeout:
            l.on_soft_timeout(cand);
            break;
        case RpcEventKind::Failed:
            l.on_failed(cand, !e.timeout);
            break;
    }
    pump(lid);
}

std::string Node::item_problem(const krpc::Item& item, const NodeId& target) const {
    if (NodeId::from_key(item.key) != target) return "an item for another key";
    if (auto sizes = storage_.check_sizes(item.key, item.value); sizes != StoreResult::Stored) {
        return std::string("an item over the limits (") + to_string(sizes) + ")";
    }
    return {};
}

void Node::note_seen_seq(const NodeId& target, std::int64_t seq) {
    auto it = seen_seq_.find(target);
    if (it != seen_seq_.end()) {
        it->second = std::max(it->second, seq);
        return;
    }
    if (config_.seen_seq_entries == 0) return;
    if (seen_order_.size() < config_.seen_seq_entries) {
        seen_order_.push_back(target);
    } else {
        seen_seq_.erase(seen_order_[seen_next_]);
        ++stats_.seen_seq_evicted;
        seen_order_[seen_next_] = target;
        seen_next_ = (seen_next_ + 1) % seen_order_.size();
    }
    seen_seq_.emplace(target, seq);
}

std::optional<std::int64_t> Node::seen_seq(const NodeId& target) const {
    auto it = seen_seq_.find(target);
    if (it == seen_seq_.end()) return std::nullopt;
    return it->second;
}

void Node::lookup(TimePoint now, const NodeId& target, Callback<LookupResult> cb) {
    advance(now);
    const TimePoint started = now_;
    auto done = [this, cb, started, target](LookupOp& op) {
        LookupResult r;
        r.target = target;
        r.queries = op.lookup.queries();
        r.elapsed = now_ - started;
        if (op.cancelled) {
            r.error = "cancelled";
            return cb(r);
        }
        for (const auto* c : op.lookup.results()) r.nodes.push_back({c->id, c->endpoint});
        r.hops = op.lookup.hops();
        r.ok = !r.nodes.empty();
        if (!r.ok) r.error = table_.size() == 0 ? "no contacts to ask" : "no node answered";
        cb(r);
    };
    if (start_lookup(target, false, false, 0, nullptr, done) == 0) {
        LookupResult r;
        r.target = target;
        r.error = "too many lookups running";
        cb(r);
    }
}

void Node::get(TimePoint now, std::string key, Callback<GetResult> cb) {
    advance(now);
    GetResult fail;
    fail.key = key;
    if (key.size() > storage_.config().max_key_size) {
        fail.error = "key too large (" + std::to_string(key.size()) + " > " +
                     std::to_string(storage_.config().max_key_size) + " bytes)";
        return cb(fail);
    }
    const NodeId target = NodeId::from_key(key);
    const StoredItem* local = storage_.find(target);
    const std::int64_t min_seq = std::max(seen_seq(target).value_or(0), local ? local->seq : 0);
    const TimePoint started = now_;
    auto done = [this, cb, started, key, target](LookupOp& op) {
        GetResult r;
        r.key = key;
        r.queries = op.lookup.queries();
        r.elapsed = now_ - started;
        if (op.cancelled) {
            r.error = "cancelled";
            return cb(r);
        }
        const auto& found = op.lookup.value();
        if (!found) {
            r.hops = op.lookup.hops();
            r.error = table_.size() == 0 ? "not found (no contacts to ask)" : "not found";
            return cb(r);
        }
        r.ok = true;
        r.item = found->item;
        r.from = {found->from_id, found->from};
        r.hops = found->hops;
        note_seen_seq(target, found->item.seq);
        // Cache at the nearest node that answered without it, so the next get ends sooner.
        if (const LookupCandidate* c = op.lookup.cache_target()) {
            krpc::StoreArgs a;
            a.target = target;
            a.token = *c->token;
            a.key = found->item.key;
            a.value = found->item.value;
            a.seq = found->item.seq;
            krpc::Query q;
            q.id = id_;
            q.args = std::move(a);
            if (send_query(c->endpoint, c->id, std::move(q), [](const RpcEvent&) {})) {
                ++stats_.values_cached;
            }
        }
        cb(r);
    };
    if (start_lookup(target, true, true, min_seq, local, done) == 0) {
        fail.error = "too many lookups running";
        cb(fail);
    }
}

void Node::put(TimePoint now, std::string key, std::string value, PutOptions options,
               Callback<PutResult> cb) {
    advance(now);
    PutResult fail;
    fail.key = key;
    const auto& limits = storage_.config();
    switch (storage_.check_sizes(key, value)) {
        case StoreResult::KeyTooLarge:
            fail.error = "key too large (" + std::to_string(key.size()) + " > " +
                         std::to_string(limits.max_key_size) + " bytes)";
            return cb(fail);
        case StoreResult::ValueTooLarge:
            fail.error = "value too large (" + std::to_string(value.size()) + " > " +
                         std::to_string(limits.max_value_size) + " bytes)";
            return cb(fail);
        default:
            break;
    }
    if (options.seq && *options.seq < 0) {
        fail.error = "seq must not be negative";
        return cb(fail);
    }
    const NodeId target = NodeId::from_key(key);
    const TimePoint started = now_;
    auto done = [this, cb, started, key, value, options, target](LookupOp& op) {
        auto result = std::make_shared<PutResult>();
        PutResult& r = *result;
        r.key = key;
        r.queries = op.lookup.queries();
        r.hops = op.lookup.hops();
        if (op.cancelled) {
            r.error = "cancelled";
            r.elapsed = now_ - started;
            return cb(r);
        }
        // The next version: one more than the newest seen, unless it is this very value.
        const auto& latest = op.lookup.value();
        const std::optional<std::int64_t> seen = seen_seq(target);
        constexpr std::int64_t kMaxSeq = std::numeric_limits<std::int64_t>::max();
        if (options.seq) {
            r.seq = *options.seq;
        } else if (latest && latest->item.value == value) {
            r.seq = latest->item.seq;  // the same value again: refresh it
        } else if (latest || seen) {
            const std::int64_t newest = std::max(latest ? latest->item.seq : 0, seen.value_or(0));
            if (newest == kMaxSeq) {
                r.error =
                    "the newest version has the largest seq there is; nothing can "
                    "supersede it";
                r.elapsed = now_ - started;
                return cb(r);
            }
            r.seq = newest + 1;
        } else {
            r.seq = 0;
        }
        r.stored_locally = accepted(storage_.store(now_, key, value, r.seq, options.ttl, true));
        if (r.stored_locally) {
            storage_.set_published(target, now_);
            next_republish_scan_ =
                std::min(next_republish_scan_, republish_time(*storage_.find(target)));
        }
        note_seen_seq(target, r.seq);
        store_on(
            op.lookup.results(), StoreJob{key, value, r.seq, options.ttl}, result,
            [this, result, cb, started](bool cancelled) {
                PutResult& pr = *result;
                pr.elapsed = now_ - started;
                pr.ok = pr.stored > 0 || (pr.refused == 0 && pr.failed == 0 && pr.stored_locally);
                if (cancelled) {
                    pr.ok = false;
                    pr.error = "cancelled";
                } else if (!pr.ok) {
                    if (!pr.refusals.empty()) {
                        pr.error = "refused by every node (" + pr.refusals.front().second + ")";
                    } else if (pr.failed > 0) {
                        pr.error = "no node answered the store";
                    } else {
                        pr.error = "no node to store on";
                    }
                }
                cb(pr);
            });
    };
    const StoredItem* local = storage_.find(target);
    if (start_lookup(target, true, false, 0, local, done) == 0) {
        fail.error = "too many lookups running";
        cb(fail);
    }
}

void Node::store_on(const std::vector<const LookupCandidate*>& nodes, const StoreJob& job,
                    std::shared_ptr<PutResult> result, std::function<void(bool)> done) {
    struct Pending {
        std::size_t count = 0;
        bool cancelled = false;
    };
    auto pending = std::make_shared<Pending>();
    auto one_done = [pending, done]() {
        if (--pending->count == 0) done(pending->cancelled);
    };
    const NodeId target = NodeId::from_key(job.key);
    ++pending->count;  // held until every store has been sent
    for (const LookupCandidate* c : nodes) {
        if (!c->token) continue;
        krpc::StoreArgs a;
        a.target = target;
        a.token = *c->token;
        a.key = job.key;
        a.value = job.value;
        a.seq = job.seq;
        if (job.ttl) a.ttl = ttl_seconds(*job.ttl);
        krpc::Query q;
        q.id = id_;
        q.args = std::move(a);
        const krpc::NodeInfo info{c->id, c->endpoint};
        ++pending->count;
        const bool sent = send_query(c->endpoint, c->id, std::move(q),
                                     [result, pending, one_done, info](const RpcEvent& e) {
                                         if (e.kind == RpcEventKind::SoftTimeout) return;
                                         if (e.cancelled) pending->cancelled = true;
                                         if (e.kind == RpcEventKind::Reply) {
                                             ++result->stored;
                                         } else if (e.kind == RpcEventKind::ErrorReply) {
                                             ++result->refused;
                                             result->refusals.emplace_back(info, failure_text(e));
                                         } else {
                                             ++result->failed;
                                         }
                                         one_done();
                                     });
        if (!sent) {
            ++result->failed;
            --pending->count;
        }
    }
    one_done();
}

Duration Node::jittered_republish() {
    // Holders of one item got it at about the same time: a spread of 10% lets the first to
    // republish refresh the others, which then skip theirs.
    const double f = 1.0 + 0.1 * rng_.uniform_real();
    return std::chrono::duration_cast<Duration>(config_.republish_interval * f);
}

TimePoint Node::republish_time(const StoredItem& item) const {
    if (!item.original) return item.republish_at;
    return item.published_at +
           std::chrono::duration_cast<Duration>(item.ttl * config_.publisher_refresh);
}

void Node::republish_due() {
    std::vector<NodeId> due;
    TimePoint next = TimePoint::max();
    for (const auto& [target, item] : storage_.items()) {
        const TimePoint at = republish_time(item);
        if (now_ >= at) {
            due.push_back(target);
        } else {
            next = std::min(next, at);
        }
    }
    std::size_t started = 0;
    for (const NodeId& target : due) {
        if (republishing_ >= config_.max_republishes) break;
        republish(target);  // moves its republish time on
        const StoredItem* item = storage_.find(target);
        if (item) next = std::min(next, republish_time(*item));
        ++started;
    }
    // Wake when the next item is due: holders of one item are then woken at their own
    // (jittered) times, and the first to republish refreshes the others before theirs.
    if (started < due.size()) {
        next = now_;  // the rest as soon as a slot frees
        stats_.republishes_deferred += due.size() - started;
    }
    next_republish_scan_ = std::max(next, now_ + config_.republish_check);
}

void Node::republish(const NodeId& target) {
    const StoredItem* item = storage_.find(target);
    if (!item) return;
    StoreJob job{item->key, item->value, item->seq, std::nullopt};
    const bool original = item->original;
    if (original) {
        // The publisher keeps its item alive: a fresh life everywhere, its own copy included.
        job.ttl = item->ttl;
        storage_.store(now_, job.key, job.value, job.seq, job.ttl, true);
        storage_.set_published(target, now_);
        ++stats_.refreshed_originals;
    } else {
        if (table_.count_nearer_than_self(target) >= config_.k) {
            // We know k nodes nearer the key: they hold it (a hand-off or their own republish
            // saw to that). Keep the copy until it expires; republishing is theirs now.
            storage_.set_republish_at(target, TimePoint::max());
            ++stats_.republish_retired;
            return;
        }
        // A holder keeps the replicas where they belong, with the life the item has left.
        job.ttl = item->expires - now_;
        if (*job.ttl <= Duration::zero()) return;
        storage_.set_republish_at(target, now_ + jittered_republish());
        ++stats_.republished;
    }
    ++republishing_;
    const auto id =
        start_lookup(target, true, false, 0, nullptr, [this, job, original, target](LookupOp& op) {
            if (op.cancelled) {
                --republishing_;
                return;
            }
            const auto results = op.lookup.results();
            if (!original && results.size() >= config_.k &&
                compare_distance(target, id_, results.back()->id) > 0) {
                // Nearer nodes have joined: we are no longer among the k nearest. They get the
                // item now; we keep our copy until it expires, but stop republishing it.
                storage_.set_republish_at(target, TimePoint::max());
                ++stats_.republish_retired;
            }
            auto result = std::make_shared<PutResult>();
            store_on(results, job, result, [this, result](bool) {
                --republishing_;
                stats_.republish_stores += result->stored;
            });
        });
    if (id == 0) --republishing_;
}

StoreResult Node::restore(StoredItem item) {
    if (!item.original) item.republish_at = now_ + jittered_republish();
    const TimePoint due = republish_time(item);
    const StoreResult r = storage_.restore(std::move(item));
    if (r == StoreResult::Stored) next_republish_scan_ = std::min(next_republish_scan_, due);
    return r;
}

void Node::on_new_contact(const NodeId& id, const Endpoint& ep) {
    if (!config_.handoff || storage_.size() == 0) return;
    // Items for which the newcomer is now among the k nearest, when we are the nearest holder
    // we know of (every other contact is farther from the key than we are): one node hands
    // each item over, not all k of them; the hourly republish covers what this misses.
    std::vector<StoreJob> jobs;
    for (const auto& [target, item] : storage_.items()) {
        if (!table_.self_is_nearest(target, id)) continue;  // cheap: one bucket
        table_.closest(target, config_.k, closest_);
        const bool newcomer_near = std::any_of(closest_.begin(), closest_.end(),
                                               [&](const Contact* c) { return c->id == id; });
        if (!newcomer_near) continue;
        jobs.push_back(StoreJob{item.key, item.value, item.seq, item.expires - now_});
    }
    for (auto& job : jobs) {
        if (handoffs_ >= config_.max_handoffs) {
            ++stats_.handoffs_skipped;
            continue;
        }
        ++handoffs_;
        ++stats_.handoffs;
        PutOptions options{job.seq, job.ttl};
        store(now_, ep, id, job.key, job.value, options, [this](const StoreRpcResult& r) {
            --handoffs_;
            if (r.ok) ++stats_.handoff_stores;
        });
    }
}

void Node::hand_off_all(TimePoint now, Callback<HandoffResult> cb) {
    advance(now);
    // Each item goes to its k nearest nodes other than us: each is asked whether it has this
    // version (find_value) and given it if not. A node that does not answer is replaced by the
    // next nearest, so that k nodes end up with it. A window of requests at a time.
    struct Task {
        StoreJob job;
        std::vector<krpc::NodeInfo> nodes;  // the 2k nearest, nearest first
        std::size_t next = 0, confirmed = 0, running = 0;
    };
    struct State {
        std::vector<Task> tasks;
        std::unordered_set<NodeId> silent;  // did not answer once: not asked again
        std::size_t cursor = 0, running = 0;
        HandoffResult result;
        TimePoint started;
        Callback<HandoffResult> cb;
        bool finished = false;
        std::function<void(std::size_t)> launch;
        std::function<void()> step;
    };
    auto st = std::make_shared<State>();
    st->started = now_;
    st->cb = std::move(cb);
    for (const auto& [target, item] : storage_.items()) {
        const Duration left = item.expires - now_;
        if (left <= Duration::zero()) continue;
        Task t;
        t.job = StoreJob{item.key, item.value, item.seq, left};
        table_.closest(target, 2 * config_.k, closest_);
        for (const Contact* c : closest_) t.nodes.push_back({c->id, c->endpoint});
        st->tasks.push_back(std::move(t));
    }
    st->result.items = st->tasks.size();
    State* raw = st.get();  // the closures below live in *st; they must not own it
    st->launch = [this, raw](std::size_t i) {
        Task& t = raw->tasks[i];
        while (raw->running < config_.max_handoffs && t.confirmed + t.running < config_.k &&
               t.next < t.nodes.size()) {
            const krpc::NodeInfo node = t.nodes[t.next++];
            if (raw->silent.count(node.id)) continue;
            ++t.running;
            ++raw->running;
            ++raw->result.asked;
            auto finish_one = [raw, i](bool confirmed) {
                Task& task = raw->tasks[i];
                --task.running;
                --raw->running;
                if (confirmed) ++task.confirmed;
                raw->launch(i);  // a replacement for a node that failed
                raw->step();
            };
            const StoreJob job = t.job;
            find_value(now_, node.endpoint, node.id, job.key,
                       [this, raw, node, job, finish_one](const FindValueResult& fv) {
                           if (!fv.ok) {
                               ++raw->result.failed;
                               raw->silent.insert(node.id);
                               return finish_one(false);
                           }
                           if (fv.item && fv.item->seq >= job.seq) {
                               ++raw->result.already_had;
                               return finish_one(true);
                           }
                           store(now_, node.endpoint, node.id, job.key, job.value,
                                 PutOptions{job.seq, job.ttl},
                                 [raw, finish_one](const StoreRpcResult& r) {
                                     ++(r.ok ? raw->result.stored : raw->result.failed);
                                     finish_one(r.ok);
                                 });
                       });
        }
    };
    st->step = [this, raw, st]() mutable {
        while (raw->cursor < raw->tasks.size() && raw->running < config_.max_handoffs) {
            raw->launch(raw->cursor++);
        }
        if (raw->running > 0 || raw->cursor < raw->tasks.size() || raw->finished) return;
        raw->finished = true;
        for (const Task& t : raw->tasks) {
            if (t.confirmed < config_.k) ++raw->result.short_items;
        }
        raw->result.ok = true;
        raw->result.elapsed = now_ - raw->started;
        KAD_LOG(log_, Info,
                "handed off " + std::to_string(raw->result.items) +
                    " items: " + std::to_string(raw->result.stored) + " stored, " +
                    std::to_string(raw->result.already_had) + " already held, " +
                    std::to_string(raw->result.failed) + " failed");
        // Release the state after the callback: `st` (captured here) keeps it alive until
        // then; clearing the closures breaks the cycle state -> step -> state.
        const auto keep = st;
        auto done = std::move(keep->cb);
        const HandoffResult result = keep->result;
        keep->launch = nullptr;
        keep->step = nullptr;  // destroys this closure: only locals from here on
        done(result);
    };
    st->step();
}

void Node::bootstrap(TimePoint now, std::vector<BootstrapPeer> peers,
                     Callback<BootstrapResult> cb) {
    advance(now);
    auto st = std::make_shared<BootstrapState>();
    st->cb = std::move(cb);
    st->started = now_;

    auto finish = [this](const std::shared_ptr<BootstrapState>& s, std::string error) {
        if (s->finished) return;
        s->finished = true;
        BootstrapResult r;
        r.elapsed = now_ - s->started;
        r.contacts = table_.size();
        r.ok = error.empty();
        r.error = std::move(error);
        if (r.ok) joined_ = true;
        if (r.ok) {
            KAD_LOG(log_, Info, "joined: " + std::to_string(r.contacts) + " contacts");
        } else {
            KAD_LOG(log_, Warn, "bootstrap failed: " + r.error);
        }
        s->cb(r);
    };

    // Step 3: refresh every bucket farther than our own, so the table covers the whole space.
    auto refresh_done = [finish](const std::shared_ptr<BootstrapState>& s, LookupOp& op) {
        if (op.cancelled) return finish(s, "cancelled");
        if (--s->pending_lookups == 0) finish(s, {});
    };
    // Step 2: look up our own ID, which fills the buckets near us.
    auto self_done = [this, finish, refresh_done, st](LookupOp& op) {
        if (op.cancelled) return finish(st, "cancelled");
        // Every range farther from us than our nearest neighbour, whether or not the table
        // has split that far yet: a table with few contacts has few buckets. Each refresh
        // converges on k/2 nodes, not k: that half-fills the bucket (the nodes it asks answer,
        // and answering nodes go in), and the rest fills as nodes there query us; a join costs
        // 15-30 % less (docs/BENCHMARKS.md).
        const auto nearest = table_.closest(id_, 1, true);
        const int farther = nearest.empty() ? 0 : common_prefix_length(id_, nearest.front()->id);
        st->pending_lookups = 1;  // held until every refresh has started
        for (int i = 0; i < farther; ++i) {
            const NodeId target = NodeId::random_with_prefix(id_.with_bit_flipped(i), i + 1, rng_);
            ++st->pending_lookups;
            if (start_lookup(
                    target, false, false, 0, nullptr,
                    [st, refresh_done](LookupOp& o) { refresh_done(st, o); },
                    std::max<std::size_t>(1, config_.k / 2)) == 0) {
                --st->pending_lookups;
            }
        }
        if (--st->pending_lookups == 0) finish(st, {});
    };
    // Step 1: ping the peers; the first answer starts the lookup.
    for (const auto& p : peers) {
        const Endpoint ep = p.endpoint.normalized();
        if (auto why = unreachable(ep)) {
            st->errors.push_back(*why);
            continue;
        }
        ++st->pending_pings;
        const bool sent = send_query(
            ep, p.id, make_query(id_, Method::Ping, id_),
            [this, st, ep, self_done, finish](const RpcEvent& e) {
                if (e.kind == RpcEventKind::SoftTimeout) return;
                --st->pending_pings;
                if (e.cancelled) return finish(st, "cancelled");
                if (e.kind == RpcEventKind::Reply) {
                    if (!st->lookup_started) {
                        st->lookup_started = true;
                        if (start_lookup(id_, false, false, 0, nullptr, self_done) == 0) {
                            finish(st, "too many lookups running");
                        }
                    }
                    return;
                }
                st->errors.push_back(ep.to_string() + ": " + failure_text(e));
                if (st->pending_pings == 0 && !st->lookup_started) {
                    std::string why = "no bootstrap node answered";
                    for (std::size_t i = 0; i < st->errors.size(); ++i) {
                        why += (i == 0 ? " (" : "; ") + st->errors[i];
                    }
                    finish(st, why + ")");
                }
            });
        if (!sent) {
            --st->pending_pings;
            st->errors.push_back(ep.to_string() + ": too many queries in flight");
        }
    }
    if (st->pending_pings == 0 && !st->lookup_started) {
        std::string why =
            peers.empty() ? "no bootstrap nodes given" : "no bootstrap node reachable";
        for (std::size_t i = 0; i < st->errors.size(); ++i)
            why += (i == 0 ? " (" : "; ") + st->errors[i];
        finish(st, st->errors.empty() ? why : why + ")");
    }
}

void Node::cancel_all() {
    // Take everything out first: callbacks may start new work, which must find clean tables.
    auto lookups = std::move(lookups_);
    lookups_.clear();
    auto open = txns_.take_all();
    for (auto& e : open) {
        RpcEvent cancelled{RpcEventKind::Failed, nullptr, {}, "cancelled", false};
        cancelled.cancelled = true;
        e.handler(cancelled);
    }
    maintenance_pings_ = 0;
    for (auto& [lid, op] : lookups) {
        op->cancelled = true;
        op->on_done(*op);
    }
}

}  // namespace kad
