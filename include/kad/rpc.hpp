#pragma once
// The node's messaging layer (libtorrent's rpc_manager): every datagram the node sends goes out
// here, and every response or error it receives is matched here to the query it answers.
//
// Rpc owns the transaction table and the node-wide RTT estimate (the soft
// timeout for a node we have no samples for). It reads the routing table for a contact's RTT, and
// tells it what traffic proves: an answer puts a node in or refreshes it, silence past the hard
// timeout counts a failure; the verification pings the table asks for go out from here, a bounded
// number at a time. A query's handler receives its fate as an RpcEvent: perhaps a soft timeout
// first, then exactly one of reply, error reply or failure. Handlers never run inside query();
// expire() and cancel_all() collect what is due before any handler runs, so a handler may send
// or end queries freely.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kad/bep42.hpp"
#include "kad/client_versions.hpp"
#include "kad/endpoint.hpp"
#include "kad/foreign_nodes.hpp"
#include "kad/krpc.hpp"
#include "kad/log.hpp"
#include "kad/node_config.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/routing_table.hpp"
#include "kad/rtt.hpp"
#include "kad/time.hpp"
#include "kad/transactions.hpp"
#include "kad/transport.hpp"

namespace kad {

// Called for every well-formed query and every matched reply: proof that a peer is alive at an
// endpoint (LAN discovery keeps its view fresh with it).
using ContactObserver = std::function<void(TimePoint, const NodeId&, const Endpoint&)>;

// What a failed RPC event means for a result: its Failure code, and its words ("refused with
// error 201: go away", "no reply within 2000 ms", ...).
Failure failure_of(const RpcEvent& e);
std::string failure_text(const RpcEvent& e);

class Rpc {
public:
    // `now` is the node's clock, which the node advances; the references must outlive the Rpc.
    Rpc(const NodeConfig& config, const NodeId& self, const TimePoint& now, Transport& transport,
        RandomSource& rng, RoutingTable& table, NodeStats& stats, const Logger& log);

    // ---- sending ----
    // Sends a query and opens its transaction. With `id`, the reply must carry that node ID.
    // Returns false, with nothing sent and the handler dropped, when the table is full.
    bool query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
               RpcHandler handler);
    // A query from this node: `args` (krpc::PingArgs, ...) with our ID.
    template <class Args>
    krpc::Query make_query(Args args) const {
        if constexpr (requires { args.want; }) {
            if (!args.want) args.want = want();  // BEP 32: contacts this node can reach
        }
        krpc::Query q;
        q.id = self_;
        q.args = std::move(args);
        return q;
    }
    // Why a query to `to` cannot be sent, if it cannot: an unusable address, or one of a family
    // the transport cannot reach.
    std::optional<std::string> unreachable(const Endpoint& to) const;
    // BEP 32 "want": the families of contacts this node asks for, those it can reach. Every
    // query whose answer carries nodes says it.
    krpc::Want want() const;
    // Answers the query with transaction `t`. With `max_size`, the reply's node list is cut from
    // the farthest end until the datagram fits (a node list beside an item).
    void respond(const Endpoint& to, std::string_view t, krpc::Response response,
                 std::size_t max_size = std::numeric_limits<std::size_t>::max());
    // Answers with a KRPC error; the message is cut to config.max_error_message bytes.
    void error(const Endpoint& to, std::string_view t, int code, std::string message);
    // The routing table asked for a ping (to verify a node, or to test a stale one); the table
    // learns the outcome from the reply or the timeout. Skipped past max_maintenance_pings. A
    // probe (a node that never answered us) goes from the transport's second port, if it has
    // one, marked read-only (BEP 43) so that nobody takes that port for us.
    void verify(const std::optional<PingRequest>& request);

    // ---- receiving ----
    // A response or error. Returns false if it answers no open query of ours (the caller
    // charges such datagrams to the sender's rate limit).
    bool handle_reply(const Endpoint& from, const krpc::Message& m);
    // A well-formed query from `from`: proof of life, for the contact observer.
    void heard_from(const NodeId& id, const Endpoint& from);

    // ---- time ----
    // Delivers the soft timeouts, then the hard timeouts (failures) that are due.
    void expire();
    TimePoint next_deadline() const noexcept { return txns_.next_deadline(); }
    // Fails every open query with Failure::Cancelled (for shutdown).
    void cancel_all();

    // ---- introspection and hooks ----
    std::size_t open() const noexcept { return txns_.size(); }
    // Our address as responders agree to see it (BEP 42 "ip"), once enough of them do.
    const std::optional<Endpoint>& external_address() const noexcept { return voter_.agreed(); }
    const bep42::AddressVoter& address_voter() const noexcept { return voter_; }
    // The client version each contact sent in its latest answer ("v").
    const ClientVersions& client_versions() const noexcept { return versions_; }
    // Nodes known not to speak kadnode's own methods (a get or put asks them find_node).
    const ForeignNodes& foreign() const noexcept { return foreign_; }
    // True once after the agreed address has changed.
    bool take_address_change() noexcept { return std::exchange(address_changed_, false); }
    Duration soft_timeout_for(const std::optional<NodeId>& id) const;
    // Whether recent round trips have run well past a stranger's soft timeout (the longest, by
    // RttWindow::longest, over one and a half times it): a heavy tail beyond the quantile the
    // timeout is set at, where silence may be slowness and a lookup's patience with its nearest
    // candidates pays (LookupParams::wait_nearest). Where round trips are alike (a LAN, one
    // region) the longest stays near the quantile, and a silent node is lost or dead. But not
    // where queries past their soft timeout have lately gone almost all unanswered (of nine or
    // more, under one in eight answered, LateAnswers; our probes from the second port aside):
    // one late answer on a LAN, then a dead node's silence, is no tail worth waiting on. (On
    // kadsim's mainline preset three in four are answered, and the rule changes no figure.)
    bool slow_tail() const;
    // A node entered the routing table by answering us.
    void set_new_contact_hook(std::function<void(const NodeId&, const Endpoint&)> hook) {
        new_contact_ = std::move(hook);
    }
    void set_contact_observer(ContactObserver o) { observer_ = std::move(o); }

private:
    bool query(const Endpoint& to, const std::optional<NodeId>& id, krpc::Query query,
               RpcHandler handler, bool probe);
    void send(const Endpoint& to, const krpc::Message& m, bool probe = false);
    void send_encoded(const Endpoint& to, bool probe = false);  // sends what was just encoded
    krpc::Message envelope(std::string_view t) const;
    void on_matched(const Endpoint& from, const krpc::Message& m, TransactionTable::Entry& e);
    // A query ended, answered or not: one past its soft timeout counts in LateAnswers.
    void note_ending(const TransactionTable::Entry& e, bool answered);
    // Who a query went to: the ID it was sent for, or the contact at its endpoint.
    std::optional<NodeId> queried_id(const TransactionTable::Entry& e) const;
    // What an answer says about whether its sender speaks find_value and store.
    void learn_methods(const NodeId& id, const krpc::Message& m, krpc::Method asked);

    const NodeConfig& config_;
    const NodeId& self_;
    const TimePoint& now_;
    Transport& transport_;
    RandomSource& rng_;
    RoutingTable& table_;
    NodeStats& stats_;
    const Logger& log_;

    TransactionTable txns_;
    RttWindow rtt_;          // every reply to us, whoever sent it
    LateAnswers late_;       // queries past their soft timeout, and whether they were answered
    std::size_t pings_ = 0;  // verification pings in flight
    bep42::AddressVoter voter_;
    ClientVersions versions_;
    ForeignNodes foreign_;
    bool address_changed_ = false;
    std::function<void(const NodeId&, const Endpoint&)> new_contact_;
    ContactObserver observer_;
};

}  // namespace kad
