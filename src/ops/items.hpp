#pragma once
// BEP 44's iterative operations: get an item (a get lookup that checks every item it is given and
// keeps, of mutable ones, the highest seq), and put one (the same lookup for the tokens and the
// current seq, then put to the k nearest with the tokens they gave).

#include <optional>
#include <string>
#include <string_view>

#include "kad/bep44.hpp"
#include "kad/results.hpp"
#include "ops/operation.hpp"
#include "ops/store_on_nodes.hpp"
#include "ops/traversal.hpp"

namespace kad::ops {

// The item a get answer carries with its value, not yet checked; `salt` is the one asked for.
std::optional<bep44::Item> item_in(const krpc::Response& resp, std::string_view salt);
// An item as our item store holds it.
bep44::Item item_of(const StoredItem& stored);
// The put query for `item`, with the node's token.
krpc::Query put_query(const Rpc& rpc, const bep44::Item& item, std::optional<std::int64_t> cas,
                      std::string token);

class ItemGetOp final : public Operation {
public:
    ItemGetOp(Context& ctx, const NodeId& target, std::string salt, Callback<ItemGetResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    void consider(const krpc::Response& resp);
    void check();
    void take_counts();

    Context& ctx_;
    std::string salt_;
    Traversal traversal_;
    bool found_immutable_ = false;
    Callback<ItemGetResult> done_;
    ItemGetResult result_;
};

// What to put: a ready item, or (with `signer`) a mutable one to be signed at the seq the lookup
// finds: one more than the newest held, or the same if its value is ours already.
struct ItemPut {
    bep44::Item item;
    std::optional<Ed25519KeyPair> signer;
    std::optional<std::int64_t> cas;  // sent with each put
};

class ItemPutOp final : public Operation {
public:
    ItemPutOp(Context& ctx, ItemPut put, Callback<ItemPutResult> done);
    void start() override;
    void on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) override;
    void cancel() override;
    void complete() override { done_(result_); }

private:
    void consider(const krpc::Response& resp);
    void check();
    // Signs the item at the seq the lookup found; false if no seq is left.
    bool sign();
    void take_counts();

    Context& ctx_;
    ItemPut put_;
    Traversal traversal_;  // slot 0
    StoreOnNodes puts_;    // slots 1, 2, ...
    bool putting_ = false;
    std::optional<bep44::Item> newest_;  // mutable: the newest version found
    std::size_t newer_held_ = 0;         // puts refused with 302
    Callback<ItemPutResult> done_;
    ItemPutResult result_;
};

}  // namespace kad::ops
