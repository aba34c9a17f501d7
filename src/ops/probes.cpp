#include "ops/probes.hpp"

#include <limits>

#include "ops/store_on_nodes.hpp"

namespace kad::ops {

namespace {

// The one path of every single RPC: `fill` reads a reply into the result (and may still fail
// it); failures become the result's code and text, and a refusal's KRPC code its error_code
// where the result has one. `r` may come with fields set already.
template <class Result, class Fill>
void probe(Context& ctx, const Endpoint& address, const std::optional<NodeId>& id,
           const krpc::Query& query, Callback<Result> done, Fill fill, Result r = {}) {
    r.endpoint = address.normalized();
    if (auto why = ctx.rpc.unreachable(r.endpoint)) {
        r.fail(Failure::Unreachable, *why);
        return done(r);
    }
    auto handler = [r, done, fill](const RpcEvent& e) mutable {
        if (e.kind == RpcEventKind::SoftTimeout) return;
        r.rtt = e.rtt;
        if (e.kind == RpcEventKind::Reply) {
            const auto& resp = std::get<krpc::Response>(e.message->body);
            r.ok = true;
            r.id = resp.id;
            fill(r, resp);
        } else {
            if constexpr (requires { r.error_code; }) {
                if (e.kind == RpcEventKind::ErrorReply) {
                    r.error_code = std::get<krpc::Error>(e.message->body).code;
                }
            }
            r.fail(failure_of(e), failure_text(e));
        }
        done(r);
    };
    if (!ctx.rpc.query(r.endpoint, id, query, std::move(handler))) {
        r.fail(Failure::Busy, "too many queries in flight");
        done(r);
    }
}

}  // namespace

void ping(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
          Callback<PingResult> done) {
    probe(ctx, to, id, ctx.rpc.make_query(krpc::PingArgs{}), std::move(done),
          [](PingResult&, const krpc::Response&) {});
}

void find_node(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
               const NodeId& target, Callback<FindNodeResult> done) {
    probe(ctx, to, id, ctx.rpc.make_query(krpc::FindNodeArgs{target, std::nullopt}),
          std::move(done),
          [](FindNodeResult& r, const krpc::Response& resp) { r.nodes = resp.nodes; });
}

void find_value(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                const std::string& key, Callback<FindValueResult> done) {
    const NodeId target = NodeId::from_key(key);
    probe(ctx, to, id, ctx.rpc.make_query(krpc::FindValueArgs{target, std::nullopt}),
          std::move(done), [target](FindValueResult& r, const krpc::Response& resp) {
              r.nodes = resp.nodes;
              r.token = resp.token;
              if (resp.item && NodeId::from_key(resp.item->key) != target) {
                  r.fail(Failure::BadResponse, "it answered with an item for another key");
                  return;
              }
              r.item = resp.item;
          });
}

void get_peers(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
               const NodeId& info_hash, Callback<GetPeersResult> done) {
    probe(ctx, to, id, ctx.rpc.make_query(krpc::GetPeersArgs{info_hash, std::nullopt}),
          std::move(done), [](GetPeersResult& r, const krpc::Response& resp) {
              r.nodes = resp.nodes;
              r.token = resp.token;
              if (resp.values) r.values = *resp.values;
          });
}

void sample_infohashes(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                       const NodeId& target, Callback<SampleInfohashesResult> done) {
    probe(ctx, to, id, ctx.rpc.make_query(krpc::SampleInfohashesArgs{target, std::nullopt}),
          std::move(done), [](SampleInfohashesResult& r, const krpc::Response& resp) {
              r.nodes = resp.nodes;
              r.interval = std::chrono::seconds(resp.samples->interval);
              r.num = resp.samples->num;
              r.samples = resp.samples->samples;
          });
}

krpc::Query announce_query(const Rpc& rpc, const NodeId& info_hash, std::uint16_t port,
                           std::string token) {
    krpc::AnnouncePeerArgs a;
    a.info_hash = info_hash;
    a.port = port;
    a.implied_port = port == 0;
    a.token = std::move(token);
    return rpc.make_query(std::move(a));
}

void announce_peer(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id,
                   const NodeId& info_hash, std::uint16_t port, Callback<AnnouncePeerResult> done,
                   OpId guard) {
    auto got_token = [&ctx, info_hash, port, guard,
                      done = std::move(done)](const GetPeersResult& gp) {
        if (guard && !ctx.ops.running(guard)) return;  // cancelled: announce nothing
        AnnouncePeerResult r;
        r.endpoint = gp.endpoint;
        r.id = gp.id;
        if (!gp.ok) {
            r.error_code = gp.error_code;
            r.fail(gp.code, "no token: " + gp.error);
            return done(r);
        }
        probe(ctx, gp.endpoint, gp.id, announce_query(ctx.rpc, info_hash, port, *gp.token), done,
              [](AnnouncePeerResult&, const krpc::Response&) {});
    };
    get_peers(ctx, to, id, info_hash, std::move(got_token));
}

namespace {

// The second half of a store: the token and the seq are known.
void send_store(Context& ctx, const FindValueResult& fv, const StoreJob& job,
                const Callback<StoreRpcResult>& done) {
    StoreRpcResult r;
    r.id = fv.id;
    r.seq = job.seq;
    probe(
        ctx, fv.endpoint, fv.id, store_query(ctx.rpc, job, *fv.token), done,
        [](StoreRpcResult&, const krpc::Response&) {}, r);
}

}  // namespace

void store(Context& ctx, const Endpoint& to, const std::optional<NodeId>& id, std::string key,
           std::string value, const PutOptions& options, Callback<StoreRpcResult> done,
           OpId guard) {
    // Both the key and the value go in one datagram; refuse here rather than be refused.
    if (auto why = ctx.storage.size_error(key, value); !why.empty()) {
        StoreRpcResult r;
        r.endpoint = to.normalized();
        r.fail(Failure::BadArgument, why);
        return done(r);
    }
    StoreJob job{std::move(key), std::move(value), options.seq.value_or(0), options.ttl};
    const std::string lookup_key = job.key;
    auto got_token = [&ctx, job = std::move(job), seq = options.seq, guard,
                      done = std::move(done)](const FindValueResult& fv) mutable {
        if (guard && !ctx.ops.running(guard)) return;  // cancelled: store nothing
        StoreRpcResult r;
        r.endpoint = fv.endpoint;
        r.id = fv.id;
        if (!fv.ok) {
            r.fail(fv.code, "no token: " + fv.error);
            return done(r);
        }
        if (!fv.token) {
            r.fail(Failure::BadResponse,
                   "the node gave no token (it does not speak kadnode's find_value and store)");
            return done(r);
        }
        if (!seq && fv.item) {
            if (fv.item->seq == std::numeric_limits<std::int64_t>::max()) {
                r.fail(Failure::SeqExhausted,
                       "the node holds the largest seq there is; nothing can supersede it");
                return done(r);
            }
            job.seq = fv.item->seq + 1;
        }
        send_store(ctx, fv, job, done);
    };
    find_value(ctx, to, id, lookup_key, std::move(got_token));
}

}  // namespace kad::ops
