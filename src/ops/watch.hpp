#pragma once
// A watch's round (Node::watch, kad/watches.hpp): a find_value lookup of the key that goes on to
// the k nearest, as a put's does (so that the nearest holders give their tokens and the newest
// version they hold is known), then a listen to the config.listen_nodes nearest of them, for
// three rounds' time: each then tells us of the next version stored there (notify).

#include <optional>
#include <string>
#include <vector>

#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/store_on_nodes.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

// How long a holder is asked to keep our listen: three rounds, so that one late or failed round
// does not leave the watch without holders.
Duration listen_ttl(const NodeConfig& config);

// What a round listens with: the watch's tag, the newest version it knows.
struct WatchListen {
    std::string tag;
    std::optional<std::int64_t> known;
};

class WatchRoundOp final : public Operation {
public:
    // `asking`: called as the listens go out, with the holders asked (a notify may come back
    // before the round ends).
    WatchRoundOp(Context& ctx, std::string key, WatchListen listen,
                 Callback<std::vector<krpc::NodeInfo>> asking, Callback<WatchRoundResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override;

private:
    void on_lookup_done();
    void check_listens();

    Context& ctx_;
    std::string key_;
    WatchListen listen_;
    Callback<std::vector<krpc::NodeInfo>> asking_;
    NodeId target_;
    std::optional<Traversal> traversal_;  // slot 0
    StoreOnNodes listens_;                // slots 1, 2, ...
    Callback<WatchRoundResult> done_;
    WatchRoundResult result_;
};

}  // namespace kad::ops
