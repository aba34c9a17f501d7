#include "kad/rpc.hpp"

#include <algorithm>

namespace kad {

using krpc::Method;

namespace {

std::size_t method_index(Method m) {
    return static_cast<std::size_t>(m);
}

// kadnode's own methods, which other DHT implementations do not know.
bool kadnode_method(Method m) {
    return m == Method::FindValue || m == Method::Store;
}

// The first two bytes of "v" name the client (BEP 20's convention).
bool same_client(std::string_view a, std::string_view b) {
    return a.size() >= 2 && b.size() >= 2 && a.substr(0, 2) == b.substr(0, 2);
}

}  // namespace

Failure failure_of(const RpcEvent& e) {
    if (e.kind == RpcEventKind::ErrorReply) return Failure::Refused;
    return e.failure;
}

std::string failure_text(const RpcEvent& e) {
    if (e.kind == RpcEventKind::ErrorReply && e.message) {
        const auto& err = std::get<krpc::Error>(e.message->body);
        return "refused with error " + std::to_string(err.code) + ": " + err.message;
    }
    return e.reason;
}

Rpc::Rpc(const NodeConfig& config, const NodeId& self, const TimePoint& now, Transport& transport,
         RandomSource& rng, RoutingTable& table, NodeStats& stats, const Logger& log)
    : config_(config),
      self_(self),
      now_(now),
      transport_(transport),
      rng_(rng),
      table_(table),
      stats_(stats),
      log_(log),
      txns_(config.max_transactions),
      rtt_(config.soft_timeout_quantile),
      voter_(config.address_votes),
      versions_(config.version) {}

// ---- sending ------------------------------------------------------------------------------------

namespace {

// The encode buffer, one per thread as the decoding document is (Node::handle_datagram): it grows
// to the largest message sent, and no two encodes on a thread overlap (a transport copies a
// datagram and calls into no node on its thread, kad/transport.hpp).
std::string& out() {
    thread_local std::string buffer;
    return buffer;
}

}  // namespace

void Rpc::send(const Endpoint& to, const krpc::Message& m, bool probe) {
    out().clear();
    krpc::encode_to(out(), m);
    send_encoded(to, probe);
}

void Rpc::send_encoded(const Endpoint& to, bool probe) {
    const std::string& datagram = out();
    ++stats_.packets_out;
    stats_.bytes_out += datagram.size();
    if (probe && transport_.send_probe(to, datagram)) return;
    transport_.send(to, datagram);
}

krpc::Message Rpc::envelope(std::string_view t) const {
    krpc::Message m;
    m.transaction = std::string(t);
    if (!config_.version.empty()) m.version = config_.version;  // empty: send no "v"
    return m;
}

Duration Rpc::soft_timeout_for(const std::optional<NodeId>& id) const {
    std::optional<Duration> estimate;
    if (const Contact* c = id ? table_.find(*id) : nullptr) estimate = c->timeout();
    if (!estimate) estimate = rtt_.timeout();
    return std::clamp(estimate.value_or(config_.soft_timeout_initial), config_.soft_timeout_min,
                      config_.soft_timeout_max);
}

bool Rpc::slow_tail() const {
    const auto longest = rtt_.longest();
    if (!longest || *longest <= soft_timeout_for(std::nullopt) * 3 / 2) return false;
    // A veto only on clear evidence: nine endings at least, fewer than one in eight answered.
    return late_.endings() < 9 || late_.share() >= 1.0 / 8;
}

bool Rpc::query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
                RpcHandler handler) {
    return this->query(to, id, std::move(query), std::move(handler), false);
}

bool Rpc::query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
                RpcHandler handler, bool probe) {
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
    e.probe = probe;
    e.handler = std::move(handler);
    txns_.add(std::move(e));

    krpc::Message m = envelope(TransactionTable::encode_tid(*tid));
    m.body = std::move(query);
    m.read_only = config_.read_only || probe;  // BEP 43
    ++stats_.queries_out[method_index(method)];
    if (probe) ++stats_.reach_probes;
    KAD_LOG(log_, Trace,
            "query " + std::string(method_name(method)) + " to " + to.to_string() +
                (probe ? " from the second port" : ""));
    send(to, m, probe);
    return true;
}

std::optional<std::string> Rpc::unreachable(const Endpoint& to) const {
    if (to.is_unusable()) return "cannot send to " + to.to_string();
    if (!transport_.can_reach(to)) {
        return "cannot reach " + to.to_string() + " from this socket" +
               (to.is_v6() ? " (IPv6 needs a node bound to [::]:PORT)" : "");
    }
    return std::nullopt;
}

krpc::Want Rpc::want() const {
    const Transport::Families f = transport_.families();
    return {.v4 = f.v4, .v6 = f.v6};
}

void Rpc::respond(const Endpoint& to, std::string_view t, krpc::Response response,
                  std::size_t max_size) {
    krpc::Message m = envelope(t);
    m.requester = to;
    m.body = std::move(response);
    ++stats_.responses_out;
    auto& nodes = std::get<krpc::Response>(m.body).nodes;
    for (;;) {
        out().clear();
        krpc::encode_to(out(), m);
        if (out().size() <= max_size || nodes.empty()) break;
        nodes.pop_back();  // the farthest first
    }
    send_encoded(to);
}

void Rpc::error(const Endpoint& to, std::string_view t, int code, std::string message) {
    if (message.size() > config_.max_error_message) message.resize(config_.max_error_message);
    krpc::Message m = envelope(t);
    m.body = krpc::Error{code, std::move(message)};
    ++stats_.errors_out;
    send(to, m);
}

void Rpc::verify(const std::optional<PingRequest>& request) {
    if (!request) return;
    if (pings_ >= config_.max_maintenance_pings) {
        ++stats_.maintenance_pings_skipped;
        table_.on_ping_abandoned(request->id);
        return;
    }
    ++pings_;
    ++stats_.maintenance_pings;
    // The routing table learns the outcome centrally (handle_reply / expire); the handler only
    // returns the budget.
    auto handler = [this](const RpcEvent& e) {
        if (e.kind != RpcEventKind::SoftTimeout && pings_ > 0) --pings_;
    };
    const bool probe = request->probe && transport_.has_probe_port();
    if (!query(request->endpoint, request->id, make_query(krpc::PingArgs{}), handler, probe)) {
        --pings_;
        table_.on_ping_abandoned(request->id);
    }
}

// ---- receiving ----------------------------------------------------------------------------------

void Rpc::heard_from(const NodeId& id, const Endpoint& from) {
    if (observer_) observer_(now_, id, from);
}

bool Rpc::handle_reply(const Endpoint& from, const krpc::Message& m) {
    const auto* resp = std::get_if<krpc::Response>(&m.body);
    std::optional<NodeId> replier;
    if (resp) replier = resp->id;
    TransactionTable::Entry e;
    switch (txns_.take(m.transaction, from, replier, e)) {
        case TransactionTable::Match::UnknownTransaction:
            ++stats_.unmatched_replies;
            return false;
        case TransactionTable::Match::WrongEndpoint:
            ++stats_.wrong_endpoint;
            return false;
        case TransactionTable::Match::WrongId:
            ++stats_.wrong_id;
            // Whoever answers at that endpoint now is not the node we knew there (it may have
            // taken a new ID, BEP 42): the old contact goes, and the one answering is heard.
            table_.remove(*e.expected_id, e.to);
            table_.on_answered(now_, *replier, from, now_ - e.sent);
            note_ending(e, true);  // something answered there: its silence was not death
            e.handler(RpcEvent{.kind = RpcEventKind::Failed,
                               .message = &m,
                               .failure = Failure::WrongId,
                               .reason = "answered as " + replier->to_hex() +
                                         ", not the expected " + e.expected_id->to_hex()});
            return true;
        case TransactionTable::Match::Ok:
            break;
    }
    on_matched(from, m, e);
    return true;
}

void Rpc::on_matched(const Endpoint& from, const krpc::Message& m, TransactionTable::Entry& e) {
    const Duration rtt = now_ - e.sent;
    note_ending(e, true);
    const auto* resp = std::get_if<krpc::Response>(&m.body);
    if (!resp) {
        ++stats_.errors_in;
        const auto& err = std::get<krpc::Error>(m.body);
        if (kadnode_method(e.method) && err.code == krpc::kMethodUnknown) {
            if (auto id = queried_id(e)) foreign_.add(*id);
        }
        e.handler(RpcEvent{.kind = RpcEventKind::ErrorReply,
                           .message = &m,
                           .rtt = rtt,
                           .failure = Failure::Refused});
        return;
    }
    ++stats_.responses_in;
    if (auto why = krpc::validate_response(e.method, *resp); !why.empty()) {
        ++stats_.bad_responses;
        e.handler(RpcEvent{.kind = RpcEventKind::Failed,
                           .message = &m,
                           .rtt = rtt,
                           .failure = Failure::BadResponse,
                           .reason = "bad response: " + why});
        return;
    }
    learn_methods(resp->id, m, e.method);
    // An answer to a probe saw our second port: its address counts, not its port.
    if (m.requester &&
        voter_.add(now_, {.from = from, .says = *m.requester, .port_known = !e.probe})) {
        address_changed_ = true;
    }
    const bool known = table_.contains(resp->id);
    table_.on_answered(now_, resp->id, from, rtt);
    versions_.note(resp->id, m.version ? std::string_view(*m.version) : std::string_view(), table_);
    if (!known && table_.contains(resp->id) && new_contact_) new_contact_(resp->id, from);
    heard_from(resp->id, from);
    rtt_.add_sample(rtt);
    e.handler(RpcEvent{.kind = RpcEventKind::Reply, .message = &m, .rtt = rtt});
}

void Rpc::note_ending(const TransactionTable::Entry& e, bool answered) {
    // A probe's silence says where a node is (behind NAT), not how slow it is. (A reply that
    // comes after the soft deadline but before expire() delivered it is in time, as for the
    // lookup that sent it.)
    if (!e.soft_fired || e.probe) return;
    late_.add(answered);
    if (answered) ++stats_.late_answers;
}

std::optional<NodeId> Rpc::queried_id(const TransactionTable::Entry& e) const {
    if (e.expected_id) return e.expected_id;
    if (const Contact* c = table_.find(e.to)) return c->id;
    return std::nullopt;
}

void Rpc::learn_methods(const NodeId& id, const krpc::Message& m, Method asked) {
    const auto& resp = std::get<krpc::Response>(m.body);
    // kadnode always says who it is; an answer without "v" comes from another implementation
    // (bittorrent-dht sends none), unless this node does not send one either.
    const bool other_client =
        m.version ? !same_client(*m.version, config_.version) : !config_.version.empty();
    const bool as_find_node = asked == Method::FindValue && !resp.token;
    if (other_client || as_find_node) {
        foreign_.add(id);  // another implementation, or one that took find_value for find_node
    } else if (!kadnode_method(asked) && !m.version) {
        // Without "v" on either side, silence to one of our own methods followed by an answer
        // to another is the only sign of an implementation that ignores what it does not know.
        // Under our own "v" it is a lost datagram, never a reason to stop asking a kadnode
        // node for values (the fault-injection suite found that a lossy minute did that).
        foreign_.answered(id);
    }
}

// ---- time ---------------------------------------------------------------------------------------

void Rpc::expire() {
    std::vector<std::uint16_t> soft;
    std::vector<TransactionTable::Entry> hard;
    txns_.expire(now_, soft, hard);
    for (std::uint16_t tid : soft) {
        const auto* e = txns_.find(tid);
        if (!e) continue;  // an earlier handler ended it
        ++stats_.soft_timeouts;
        RpcHandler handler = e->handler;  // the handler may open or close transactions
        handler(RpcEvent{.kind = RpcEventKind::SoftTimeout});
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.rpc_timeout);
    for (auto& e : hard) {
        ++stats_.hard_timeouts;
        note_ending(e, false);
        if (e.probe) {
            ++stats_.reach_probes_unanswered;
            table_.note_unreachable(now_, e.to);
        }
        KAD_LOG(log_, Debug,
                "no reply from " + e.to.to_string() + " to " + std::string(method_name(e.method)));
        const std::optional<NodeId> id = queried_id(e);
        if (id) verify(table_.on_failed(now_, *id, e.to));
        if (id && kadnode_method(e.method)) foreign_.suspect(*id);  // silent, or gone
        e.handler(RpcEvent{.kind = RpcEventKind::Failed,
                           .failure = Failure::Timeout,
                           .reason = "no reply within " + std::to_string(ms.count()) + " ms"});
    }
}

void Rpc::cancel_all() {
    auto open = txns_.take_all();
    pings_ = 0;
    for (auto& e : open) {
        e.handler(RpcEvent{
            .kind = RpcEventKind::Failed, .failure = Failure::Cancelled, .reason = "cancelled"});
    }
}

}  // namespace kad
