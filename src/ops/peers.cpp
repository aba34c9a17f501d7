#include "ops/peers.hpp"

#include "ops/find.hpp"
#include "ops/probes.hpp"

namespace kad::ops {

namespace {

constexpr std::size_t kMaxPeers = 1000;  // peers one lookup collects, at most

}  // namespace

void PeerCollector::add(const krpc::Response& r) {
    if (r.values) add(*r.values);
}

void PeerCollector::add(const std::vector<Endpoint>& peers) {
    for (const Endpoint& p : peers) {
        if (peers_.size() >= max_) return;
        if (seen_.insert(p).second) peers_.push_back(p);
    }
}

// ---- FindPeersOp ----------------------------------------------------------------------------

FindPeersOp::FindPeersOp(Context& ctx, const NodeId& info_hash, Callback<FindPeersResult> done)
    : ctx_(ctx),
      traversal_(ctx, {.target = info_hash, .method = krpc::Method::GetPeers}),
      peers_(kMaxPeers),
      done_(std::move(done)) {
    result_.info_hash = info_hash;
    traversal_.set_answer_hook([this](const krpc::Response& r) { peers_.add(r); });
    // The peers announced to us count too, as our own copy of an item counts for a get.
    peers_.add(ctx.peers.peers(info_hash, true, true, kMaxPeers, ctx.rng));
}

void FindPeersOp::start() {
    if (!traversal_.start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void FindPeersOp::on_rpc(std::uint32_t, const NodeId& peer, const RpcEvent& e) {
    traversal_.on_rpc(peer, e);
    check();
}

void FindPeersOp::check() {
    if (!traversal_.done()) return;
    const Lookup& l = traversal_.lookup();
    result_.queries = l.queries();
    result_.hops = l.hops();
    result_.elapsed = ctx_.now - traversal_.started();
    for (const auto* c : l.results()) result_.nodes.push_back({c->id, c->endpoint});
    result_.peers = peers_.take();
    // No peers is an answer (an empty swarm); no node answering is not.
    result_.ok = !result_.nodes.empty();
    if (!result_.ok) {
        if (l.queries() == 0) {
            result_.fail(Failure::NoContacts, "no contacts to ask");
        } else {
            result_.fail(Failure::Timeout, "no node answered");
        }
    }
    finish();
}

void FindPeersOp::cancel() {
    traversal_.stop();
    result_.queries = traversal_.lookup().queries();
    result_.elapsed = ctx_.now - traversal_.started();
    result_.peers = peers_.take();
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

// ---- AnnounceOp -----------------------------------------------------------------------------

AnnounceOp::AnnounceOp(Context& ctx, const NodeId& info_hash, std::uint16_t port,
                       Callback<AnnounceResult> done)
    : ctx_(ctx),
      traversal_(ctx, {.target = info_hash, .method = krpc::Method::GetPeers}),
      peers_(kMaxPeers),
      done_(std::move(done)) {
    result_.info_hash = info_hash;
    result_.port = port;
    traversal_.set_answer_hook([this](const krpc::Response& r) { peers_.add(r); });
    peers_.add(ctx.peers.peers(info_hash, true, true, kMaxPeers, ctx.rng));
}

void AnnounceOp::start() {
    if (!traversal_.start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void AnnounceOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == 0) {
        traversal_.on_rpc(peer, e);
    } else {
        announces_.on_rpc(slot, e);
    }
    check();
}

void AnnounceOp::check() {
    if (!traversal_.done()) return;
    if (!announcing_) {
        announcing_ = true;
        const NodeId info_hash = result_.info_hash;
        const std::uint16_t port = result_.port;
        announces_.start(ctx_, *this, 1, traversal_.lookup().results(), [&](std::string token) {
            return announce_query(ctx_.rpc, info_hash, port, std::move(token));
        });
    }
    if (!announces_.done()) return;
    take_counts();
    result_.ok = result_.announced > 0;
    if (!result_.ok) {
        if (result_.refused > 0) {
            result_.fail(Failure::Refused,
                         "refused by every node (" + announces_.refusals.front().second + ")");
        } else if (result_.queries == 0) {
            result_.fail(Failure::NoContacts, "no contacts to ask");
        } else {
            result_.fail(Failure::Timeout, "no node answered");
        }
    }
    finish();
}

void AnnounceOp::take_counts() {
    const Lookup& l = traversal_.lookup();
    result_.queries = l.queries();
    result_.hops = l.hops();
    result_.elapsed = ctx_.now - traversal_.started();
    result_.announced = announces_.stored;
    result_.refused = announces_.refused;
    result_.failed = announces_.failed;
    result_.peers = peers_.take();
}

void AnnounceOp::cancel() {
    traversal_.stop();
    take_counts();
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

}  // namespace kad::ops
