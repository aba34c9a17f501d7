#include "kad/discovery.hpp"

#include <algorithm>

#include "kad/crypto.hpp"
#include "keyspec.hpp"

namespace kad {

using bencode::Type;
using detail::Found;
using detail::KeySpec;
using detail::Len;
using detail::Need;
using detail::verify;

namespace {

constexpr std::size_t kMacSize = 32;
constexpr std::int64_t kMaxIntervalMs = 3'600'000;

constexpr std::array kSpec{
    KeySpec{"h", Type::String, Need::Optional, Len::Exact, kMacSize},
    KeySpec{"i", Type::String, Need::Required, Len::Exact, NodeId::kBytes},
    KeySpec{"n", Type::String, Need::Required, Len::AtMost, 64},
    KeySpec{"p", Type::Integer, Need::Optional},
    KeySpec{"t", Type::Integer, Need::Optional},
    KeySpec{"v", Type::String, Need::Optional, Len::AtMost, 64},
    KeySpec{"y", Type::String, Need::Required, Len::Exact, 1},
};
static_assert(detail::sorted(kSpec));
enum { kH, kI, kN, kP, kT, kV, kY };

std::string mac_of(std::string_view key, std::string_view unsigned_message) {
    const auto mac = hmac_sha256({reinterpret_cast<const std::uint8_t*>(key.data()), key.size()},
                                 unsigned_message);
    return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

}  // namespace

// ---- messages -----------------------------------------------------------------------------------

std::string Discovery::encode(const Message& m, std::string_view key) {
    // Keys in byte order: h (the signature, first), i, n, p, t, v, y.
    std::string body;
    bencode::append_string(body, "i");
    bencode::append_string(body, m.id.raw());
    bencode::append_string(body, "n");
    bencode::append_string(body, m.network);
    if (m.kind != Kind::Solicit) {
        bencode::append_string(body, "p");
        bencode::append_int(body, m.port);
    }
    if (m.kind == Kind::Announce) {
        bencode::append_string(body, "t");
        bencode::append_int(body, m.interval_ms);
    }
    if (!m.version.empty()) {
        bencode::append_string(body, "v");
        bencode::append_string(body, m.version);
    }
    bencode::append_string(body, "y");
    bencode::append_string(body, std::string(1, static_cast<char>(m.kind)));
    body.push_back('e');
    if (key.empty()) return "d" + body;
    // The signature covers the message as it would be without it.
    std::string out = "d";
    bencode::append_string(out, "h");
    bencode::append_string(out, mac_of(key, "d" + body));
    return out + body;
}

std::string Discovery::DecodeError::message() const {
    switch (kind) {
        case Kind::Malformed:
            return "malformed: " + detail;
        case Kind::Unsigned:
            return "unsigned";
        case Kind::BadSignature:
            return "bad signature";
    }
    return "malformed";
}

namespace {

Unexpected<Discovery::DecodeError> refuse(Discovery::DecodeError::Kind kind,
                                          std::string detail = {}) {
    return Unexpected<Discovery::DecodeError>{{kind, std::move(detail)}};
}

Unexpected<Discovery::DecodeError> malformed(std::string detail) {
    return refuse(Discovery::DecodeError::Kind::Malformed, std::move(detail));
}

}  // namespace

// The signature is public (kad/discovery.hpp): a datagram and a key cannot be told apart by type.
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
Expected<Discovery::Message, Discovery::DecodeError> Discovery::decode(std::string_view datagram,
                                                                       std::string_view key) {
    if (datagram.size() > kMaxDatagram) return malformed("too large");
    bencode::Document doc;
    bencode::Limits limits;
    limits.max_depth = 2;
    limits.max_elements = 32;
    auto root = doc.decode(datagram, limits);
    if (!root) return malformed(root.error().message());
    if (!root->is_dict()) return malformed("not a dictionary");
    Found<kSpec.size()> f;
    if (auto why = verify(*root, "", kSpec, f); !why.empty()) return malformed(why);

    Message m;
    const std::string_view y = f[kY].as_string();
    if (y != "a" && y != "s" && y != "l") return malformed("unknown 'y'");
    m.kind = static_cast<Kind>(y[0]);
    m.id = *NodeId::from_bytes(f[kI].as_string());
    m.network = std::string(f[kN].as_string());
    if (f.has(kV)) m.version = std::string(f[kV].as_string());
    if (m.kind != Kind::Solicit) {
        if (!f.has(kP)) return malformed("missing 'p'");
        const std::int64_t p = f[kP].as_int();
        if (p < 1 || p > 65535) return malformed("'p' out of range");
        m.port = static_cast<std::uint16_t>(p);
    }
    if (m.kind == Kind::Announce) {
        if (!f.has(kT)) return malformed("missing 't'");
        m.interval_ms = f[kT].as_int();
        if (m.interval_ms < 1 || m.interval_ms > kMaxIntervalMs) {
            return malformed("'t' out of range");
        }
    }
    m.signed_ = f.has(kH);
    if (!key.empty()) {
        if (!m.signed_) return refuse(DecodeError::Kind::Unsigned);
        // The input is canonical (the decoder accepts nothing else), so the message without
        // its signature is the input without the "1:h32:<mac>" entry right after the 'd'.
        const std::string_view mac = f[kH].as_string();
        const std::size_t entry = static_cast<std::size_t>(mac.data() - datagram.data()) - 6;
        std::string unsigned_message(datagram.substr(0, entry));
        unsigned_message.append(datagram.substr(entry + 6 + kMacSize));
        if (!constant_time_equal(mac, mac_of(key, unsigned_message))) {
            return refuse(DecodeError::Kind::BadSignature);
        }
    }
    return m;
}

// ---- the state machine --------------------------------------------------------------------------

Discovery::Discovery(DiscoveryConfig config, Node& node, std::uint16_t rpc_port,
                     MulticastTransport& transport, RandomSource& rng, TimePoint now)
    : config_(std::move(config)),
      node_(node),
      port_(rpc_port),
      transport_(transport),
      rng_(rng),
      now_(now),
      next_announce_(now),
      alive_(std::make_shared<bool>(true)) {
    if (config_.interval <= Duration::zero()) config_.interval = std::chrono::seconds(5);
    if (config_.max_rate <= 0) config_.max_rate = 10.0;
}

Discovery::~Discovery() = default;

Duration Discovery::current_interval() const {
    // N nodes each announcing every N / max_rate seconds carry max_rate announcements a second.
    const auto lan = static_cast<double>(view_.size() + 1);
    const auto spread =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(lan / config_.max_rate));
    return std::max(config_.interval, spread);
}

Duration Discovery::lifetime_of(std::int64_t interval_ms) const {
    return 3 * std::chrono::duration_cast<Duration>(std::chrono::milliseconds(interval_ms));
}

void Discovery::announce(Kind kind) {
    Message m;
    m.kind = kind;
    m.id = node_.id();
    m.network = config_.network;
    m.port = port_;
    m.interval_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(current_interval()).count();
    m.version = config_.version;
    ++stats_.sent;
    switch (kind) {
        case Kind::Announce:
            ++stats_.announcements_out;
            break;
        case Kind::Solicit:
            ++stats_.solicitations_out;
            break;
        case Kind::Leave:
            ++stats_.leaves_out;
            break;
    }
    transport_.multicast(encode(m, config_.key));
}

void Discovery::handle_timeout(TimePoint now) {
    if (now > now_) now_ = now;
    if (left_) return;
    if (!solicited_) {
        solicited_ = true;
        announce(Kind::Solicit);
    }
    if (reply_at_ && now_ >= *reply_at_) {
        reply_at_.reset();
        if (answers_seen_ >= config_.reply_suppress) {
            ++stats_.replies_suppressed;
        } else {
            announce(Kind::Announce);
        }
    }
    if (now_ >= next_announce_) {
        announce(Kind::Announce);
        const double jitter = 0.75 + 0.5 * rng_.uniform_real();
        next_announce_ = now_ + std::chrono::duration_cast<Duration>(current_interval() * jitter);
    }
    if (now_ >= next_check_) expire();
}

TimePoint Discovery::next_timeout() const {
    if (left_) return TimePoint::max();
    TimePoint t = std::min(next_announce_, next_check_);
    if (reply_at_) t = std::min(t, *reply_at_);
    return t;
}

void Discovery::handle_datagram(TimePoint now, const Endpoint& sender, std::string_view datagram) {
    if (now > now_) now_ = now;
    ++stats_.received;
    auto m = decode(datagram, config_.key);
    if (!m) {
        switch (m.error().kind) {
            case DecodeError::Kind::Unsigned:
                ++stats_.unsigned_dropped;
                break;
            case DecodeError::Kind::BadSignature:
                ++stats_.bad_signature;
                break;
            case DecodeError::Kind::Malformed:
                ++stats_.malformed;
                break;
        }
        KAD_LOG(log_, Debug,
                "discovery: dropped a datagram from " + sender.to_string() + ": " +
                    m.error().message());
        return;
    }
    if (m->network != config_.network) {
        ++stats_.other_network;
        return;
    }
    if (config_.key.empty() && m->signed_) {
        // A network with a key is a network apart: it ignores us, and we ignore it.
        ++stats_.keyed_dropped;
        return;
    }
    if (m->id == node_.id()) {
        ++stats_.own;
        return;
    }
    const Endpoint from = sender.normalized();
    switch (m->kind) {
        case Kind::Solicit:
            ++stats_.solicitations_in;
            if (!reply_at_ && !left_) {
                const auto delay = static_cast<Duration::rep>(
                    rng_.uniform(static_cast<std::uint64_t>(config_.reply_delay.count()) + 1));
                reply_at_ = now_ + Duration(delay);
                answers_seen_ = 0;
            }
            return;
        case Kind::Announce:
            ++stats_.announcements_in;
            if (reply_at_) ++answers_seen_;
            on_announcement(from, *m);
            return;
        case Kind::Leave: {
            ++stats_.leaves_in;
            candidates_.erase(m->id);
            auto it = view_.find(m->id);
            // Only from where it announced from: a leave is easier to forge than an answer.
            if (it != view_.end() && it->second.endpoint.address_raw() == from.address_raw() &&
                it->second.endpoint.port() == m->port) {
                node_.forget(m->id, it->second.endpoint);
                drop(m->id, Change::Left);
            }
            return;
        }
    }
}

void Discovery::on_announcement(const Endpoint& from, const Message& m) {
    const Endpoint ep = from.with_port(m.port);
    const Duration lifetime = lifetime_of(m.interval_ms);
    if (auto it = view_.find(m.id); it != view_.end()) {
        it->second.last_seen = now_;
        it->second.lifetime = lifetime;
        return;
    }
    using State = Candidate::State;
    if (auto it = candidates_.find(m.id); it != candidates_.end()) {
        Candidate& c = it->second;
        if (c.state == State::Queued) {
            c.endpoint = ep;  // the latest address it announced from
            c.lifetime = lifetime;
        }
        if (c.state != State::Failed || now_ - c.failed_at < config_.retry_after) return;
    } else if (view_.size() + candidates_.size() >= config_.max_peers) {
        ++stats_.pings_skipped;
        return;
    }
    candidates_[m.id] = Candidate{ep, State::Queued, {}, lifetime};
    queue_.push_back(m.id);
    pump_pings();
}

void Discovery::pump_pings() {
    while (pending_pings_ < config_.max_pending_pings && !queue_.empty()) {
        const NodeId id = queue_.front();
        queue_.pop_front();
        auto it = candidates_.find(id);
        if (it != candidates_.end() && it->second.state == Candidate::State::Queued) {
            ping_candidate(id);
        }
    }
}

void Discovery::ping_candidate(const NodeId& id) {
    Candidate& c = candidates_.at(id);
    c.state = Candidate::State::Pinging;
    ++pending_pings_;
    ++stats_.pings;
    std::weak_ptr<bool> alive = alive_;
    node_.ping(now_, c.endpoint, id, [this, alive, id](const PingResult& r) {
        if (alive.expired()) return;  // this Discovery is gone
        --pending_pings_;
        on_ping_result(id, r);
        pump_pings();
    });
}

void Discovery::on_ping_result(const NodeId& id, const PingResult& r) {
    auto it = candidates_.find(id);
    if (it == candidates_.end()) return;  // it left meanwhile
    const TimePoint now = std::max(now_, node_.now());
    if (!r.ok) {
        ++stats_.pings_failed;
        it->second.state = Candidate::State::Failed;
        it->second.failed_at = now;
        next_check_ = std::min(next_check_, now + config_.retry_after);
        return;
    }
    LanPeer peer;
    peer.id = id;
    peer.endpoint = it->second.endpoint;
    peer.first_seen = now;
    peer.last_seen = now;
    peer.rtt = r.rtt;
    peer.lifetime = it->second.lifetime;
    candidates_.erase(it);
    view_[id] = peer;
    next_check_ = std::min(next_check_, peer.last_seen + peer.lifetime);
    ++stats_.peers_joined;
    KAD_LOG(log_, Info,
            "discovery: peer " + id.short_hex() + " at " + peer.endpoint.to_string() + " joined");
    if (observer_) observer_(Change::Joined, peer);
}

void Discovery::heard_from(TimePoint now, const NodeId& id) {
    if (now > now_) now_ = now;
    if (auto it = view_.find(id); it != view_.end()) it->second.last_seen = now_;
}

void Discovery::drop(const NodeId& id, Change why) {
    auto it = view_.find(id);
    if (it == view_.end()) return;
    const LanPeer peer = it->second;
    view_.erase(it);
    ++stats_.peers_left;
    KAD_LOG(
        log_, Info,
        "discovery: peer " + id.short_hex() + " " + (why == Change::Left ? "left" : "went silent"));
    if (observer_) observer_(why, peer);
}

void Discovery::expire() {
    TimePoint next = TimePoint::max();
    std::vector<NodeId> silent;
    for (const auto& [id, p] : view_) {
        if (now_ - p.last_seen >= p.lifetime) {
            silent.push_back(id);
        } else {
            next = std::min(next, p.last_seen + p.lifetime);
        }
    }
    for (auto it = candidates_.begin(); it != candidates_.end();) {
        const Candidate& c = it->second;
        const bool failed = c.state == Candidate::State::Failed;
        if (failed && now_ - c.failed_at >= config_.retry_after) {
            it = candidates_.erase(it);
        } else {
            if (failed) next = std::min(next, c.failed_at + config_.retry_after);
            ++it;
        }
    }
    next_check_ = next;
    for (const auto& id : silent) drop(id, Change::Expired);
}

void Discovery::leave(TimePoint now) {
    if (now > now_) now_ = now;
    if (left_) return;
    announce(Kind::Leave);
    left_ = true;
}

std::vector<LanPeer> Discovery::peers() const {
    std::vector<LanPeer> out;
    out.reserve(view_.size());
    for (const auto& [id, p] : view_) out.push_back(p);
    return out;
}

std::string Discovery::fingerprint() const {
    std::string ids;
    bool self_added = false;
    for (const auto& [id, p] : view_) {
        if (!self_added && node_.id() < id) {
            ids.append(node_.id().raw());
            self_added = true;
        }
        ids.append(id.raw());
    }
    if (!self_added) ids.append(node_.id().raw());
    const auto digest = sha256(ids);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < 8; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0xf]);
    }
    return out;
}

}  // namespace kad
