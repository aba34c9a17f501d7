#include "ops/items.hpp"

#include <limits>

#include "ops/find.hpp"

namespace kad::ops {

std::optional<bep44::Item> item_in(const krpc::Response& resp, std::string_view salt) {
    if (!resp.data || !resp.data->value) return std::nullopt;
    const krpc::DataItem& d = *resp.data;
    bep44::Item item;
    item.value = *d.value;
    if (d.key) {
        item.public_key = *d.key;
        item.salt = std::string(salt);
        item.seq = d.seq.value_or(0);
        item.signature = d.signature.value_or("");
    }
    return item;
}

bep44::Item item_of(const StoredItem& stored) {
    bep44::Item item;
    item.value = stored.value;
    if (!stored.signature.empty()) {
        item.public_key = stored.key.substr(0, kEd25519KeySize);
        item.salt = stored.key.substr(kEd25519KeySize);
        item.seq = stored.seq;
        item.signature = stored.signature;
    }
    return item;
}

krpc::Query put_query(const Rpc& rpc, const bep44::Item& item, std::optional<std::int64_t> cas,
                      std::string token) {
    krpc::PutArgs a;
    a.token = std::move(token);
    a.value = item.value;
    if (item.is_mutable()) {
        a.key = item.public_key;
        if (!item.salt.empty()) a.salt = item.salt;
        a.seq = item.seq;
        a.signature = item.signature;
        a.cas = cas;
    }
    return rpc.make_query(std::move(a));
}

namespace {

krpc::NodeInfo info_of(const Traversal& t, const NodeId& id) {
    const LookupCandidate* c = t.lookup().candidate(id);
    return {id, c ? c->endpoint : Endpoint{}};
}

}  // namespace

// ---- ItemGetOp ------------------------------------------------------------------------------

ItemGetOp::ItemGetOp(Context& ctx, const NodeId& target, std::string salt,
                     Callback<ItemGetResult> done)
    : ctx_(ctx),
      salt_(std::move(salt)),
      traversal_(ctx, {.target = target, .method = krpc::Method::Get, .salt = salt_}),
      done_(std::move(done)) {
    result_.target = target;
    traversal_.set_answer_hook([this](const krpc::Response& r) { consider(r); });
}

void ItemGetOp::start() {
    if (const StoredItem* held = ctx_.items.find(result_.target)) {
        // Our own copy counts as an answer at hop 0; an immutable one is the answer.
        result_.item = item_of(*held);
        result_.from = {ctx_.self, {}};
        if (!result_.item->is_mutable()) {
            result_.ok = true;
            return finish();
        }
    }
    if (!traversal_.start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void ItemGetOp::consider(const krpc::Response& resp) {
    // The traversal has checked the item: its hash and its signature.
    auto item = item_in(resp, salt_);
    if (!item) return;
    if (!item->is_mutable()) {
        found_immutable_ = true;
    } else if (result_.item && result_.item->seq >= item->seq) {
        return;
    }
    result_.item = std::move(item);
    result_.from = info_of(traversal_, resp.id);
}

void ItemGetOp::on_rpc(std::uint32_t, const NodeId& peer, const RpcEvent& e) {
    traversal_.on_rpc(peer, e);
    check();
}

void ItemGetOp::take_counts() {
    const Lookup& l = traversal_.lookup();
    result_.queries = l.queries();
    result_.hops = l.hops();
    result_.elapsed = ctx_.now - traversal_.started();
}

void ItemGetOp::check() {
    if (found_immutable_) {
        traversal_.stop();  // an immutable item is the same wherever it is found
    } else if (!traversal_.done()) {
        return;
    }
    take_counts();
    result_.ok = result_.item.has_value();
    if (!result_.ok) {
        const Lookup& l = traversal_.lookup();
        if (l.queries() == 0) {
            result_.fail(Failure::NoContacts, "no contacts to ask");
        } else if (l.results().empty()) {
            result_.fail(Failure::Timeout, "not found (no node answered)");
        } else {
            result_.fail(Failure::NotFound, "not found");
        }
    }
    finish();
}

void ItemGetOp::cancel() {
    traversal_.stop();
    take_counts();
    result_.fail(Failure::Cancelled, "cancelled");
    finish();
}

// ---- ItemPutOp ------------------------------------------------------------------------------

namespace {

NodeId put_target(ItemPut& put) {
    if (put.signer) {
        put.item.public_key.assign(put.signer->public_key.begin(), put.signer->public_key.end());
    }
    return put.item.target();
}

// Why `put` cannot be put; empty if it can.
std::string put_problem(const Context& ctx, const ItemPut& put) {
    const bep44::Item& item = put.item;
    const std::size_t max = std::min(bep44::kMaxValueSize, ctx.items.config().max_value_size);
    if (item.value.size() > max) {
        return "value too large (" + std::to_string(item.value.size()) + " > " +
               std::to_string(max) + " bytes, bencoded)";
    }
    if (!bep44::is_bencoded(item.value)) return "the value is not one bencoded value";
    if (item.salt.size() > bep44::kMaxSaltSize) {
        return "salt too large (" + std::to_string(item.salt.size()) + " > 64 bytes)";
    }
    if (!item.is_mutable() && !item.salt.empty()) return "an immutable item has no salt";
    if (item.is_mutable() && !put.signer) return bep44::problem(item, item.target());
    return {};
}

}  // namespace

ItemPutOp::ItemPutOp(Context& ctx, ItemPut put, Callback<ItemPutResult> done)
    : ctx_(ctx),
      put_(std::move(put)),
      traversal_(ctx,
                 {.target = put_target(put_), .method = krpc::Method::Get, .salt = put_.item.salt}),
      done_(std::move(done)) {
    result_.target = traversal_.target();
    traversal_.set_answer_hook([this](const krpc::Response& r) { consider(r); });
}

void ItemPutOp::start() {
    result_.item = put_.item;
    if (auto why = put_problem(ctx_, put_); !why.empty()) {
        result_.fail(Failure::BadArgument, why);
        return finish();
    }
    if (const StoredItem* held = ctx_.items.find(result_.target); held && put_.item.is_mutable()) {
        newest_ = item_of(*held);
    }
    if (!traversal_.start(*this, 0)) {
        result_.fail(Failure::Busy, kTooManyLookups);
        return finish();
    }
    check();
}

void ItemPutOp::consider(const krpc::Response& resp) {
    auto item = item_in(resp, put_.item.salt);  // checked by the traversal
    if (item && item->is_mutable() && (!newest_ || item->seq > newest_->seq)) newest_ = item;
}

void ItemPutOp::on_rpc(std::uint32_t slot, const NodeId& peer, const RpcEvent& e) {
    if (slot == 0) {
        traversal_.on_rpc(peer, e);
    } else {
        if (e.kind == RpcEventKind::ErrorReply && e.message &&
            std::get<krpc::Error>(e.message->body).code == krpc::kSeqTooLow) {
            ++newer_held_;  // it holds a newer version, or another value at this seq
        }
        puts_.on_rpc(slot, e);
    }
    check();
}

bool ItemPutOp::sign() {
    bep44::Item& item = put_.item;
    if (newest_ && newest_->value == item.value) {
        // Our value is the newest already: put that version again (its life starts again).
        item = *newest_;
        return true;
    }
    if (newest_ && newest_->seq == std::numeric_limits<std::int64_t>::max()) return false;
    item.seq = newest_ ? newest_->seq + 1 : 1;
    item.signature =
        ed25519_sign(*put_.signer, bep44::signed_bytes(item.salt, item.seq, item.value));
    return true;
}

void ItemPutOp::check() {
    if (!traversal_.done()) return;
    if (!putting_) {
        putting_ = true;
        if (put_.signer && !sign()) {
            take_counts();
            result_.fail(Failure::SeqExhausted, "the newest version has the largest seq there is");
            return finish();
        }
        if (!put_.signer && newest_ && newest_->seq > put_.item.seq) {
            // A signed version given as it is: every node holding the newer one would refuse
            // it (302), so it is not sent.
            take_counts();
            result_.fail(
                Failure::Superseded,
                "a newer version (seq " + std::to_string(newest_->seq) + ") is in the network");
            return finish();
        }
        const bep44::Item& item = put_.item;
        const std::string key =
            item.is_mutable() ? bep44::storage_key(item.public_key, item.salt) : std::string();
        result_.stored_locally =
            accepted(ctx_.items.store(ctx_.now, {.key = key,
                                                 .value = item.value,
                                                 .seq = item.seq,
                                                 .ours = true,
                                                 .target = result_.target,
                                                 .signature = item.signature}));
        puts_.start(ctx_, *this, 1, traversal_.lookup().results(), [&](std::string token) {
            return put_query(ctx_.rpc, item, put_.cas, std::move(token));
        });
    }
    if (!puts_.done()) return;
    take_counts();
    result_.ok = result_.stored > 0;
    if (!result_.ok) {
        if (newer_held_ > 0) {
            result_.fail(Failure::Superseded,
                         "a newer version is held by " + std::to_string(newer_held_) +
                             (newer_held_ == 1 ? " node" : " nodes") + " (error 302)");
        } else if (result_.refused > 0) {
            result_.fail(Failure::Refused,
                         "refused by every node (" + puts_.refusals.front().second + ")");
        } else if (result_.queries == 0) {
            result_.fail(Failure::NoContacts, "no contacts to ask");
        } else {
            result_.fail(Failure::Timeout, "no node answered");
        }
    }
    finish();
}

void ItemPutOp::take_counts() {
    const Lookup& l = traversal_.lookup();
    result_.item = put_.item;
    result_.queries = l.queries();
    result_.hops = l.hops();
    result_.elapsed = ctx_.now - traversal_.started();
    result_.stored = puts_.stored;
    result_.refused = puts_.refused;
    result_.failed = puts_.failed;
    result_.refusals = puts_.refusals;
}

void ItemPutOp::cancel() {
    traversal_.stop();
    take_counts();
    result_.fail(Failure::Cancelled,
                 result_.stored_locally ? "cancelled; kept here only" : "cancelled");
    finish();
}

}  // namespace kad::ops
