#pragma once
// BEP 42, the DHT security extension: a node ID tied to the node's external IP address, and the
// external address itself, learnt from the "ip" that responders report.
//
// The first 21 bits of a conforming ID are those of CRC-32C(address masked, with 3 random bits
// r), and its last byte holds r. A node can then choose where in the ID space it sits only by
// choosing among its own addresses, which makes filling a region of the space around a target
// expensive. Addresses of local networks (loopback, RFC 1918, link-local, IPv6 unique-local) are
// exempt: any ID is acceptable from them.
//
// AddressVoter decides the external address by agreement: responders vote with the address they
// saw us at, one vote per responder's network (its /24 or /64; on a local network its address and
// port) and window, and an address is adopted once `min_votes` agree and it leads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/node_id.hpp"
#include "kad/time.hpp"

namespace kad {

class RandomSource;

namespace bep42 {

// CRC-32C (Castagnoli), as BEP 42 uses it.
std::uint32_t crc32c(std::span<const std::uint8_t> data) noexcept;

// A local-network address: any ID is acceptable from it (BEP 42's exemption).
bool is_exempt(const Endpoint& address) noexcept;

enum class IdClass : std::uint8_t {
    Conforming,     // the ID matches the address
    NonConforming,  // it does not
    Exempt,         // the address is on a local network
};
const char* to_string(IdClass c) noexcept;

IdClass classify(const NodeId& id, const Endpoint& address) noexcept;

// A conforming ID for `address`: its last byte is `last` (whose 3 low bits are r); the 3 low
// bits of byte 2 and bytes 3 to 18 are `filler`'s.
NodeId make_id(const Endpoint& address, std::uint8_t last, const NodeId& filler) noexcept;
// The same with random r and filler.
NodeId make_id(const Endpoint& address, RandomSource& rng);

struct VoterConfig {
    std::size_t min_votes = 3;                   // agreeing voters needed
    Duration window = std::chrono::minutes(30);  // a vote counts for this long
    std::size_t max_candidates = 4;              // addresses tracked at once
    std::size_t max_votes_per_candidate = 16;    // the oldest vote gives way
};

// One responder's view of our address: `from` (who answered) saw us at `says`.
struct Ballot {
    Endpoint from;
    Endpoint says;
    // False for an answer to our second port (a probe): its IP address counts, but its port is
    // the second port's, not the one we serve at, so it does not move the agreed port.
    bool port_known = true;
};

class AddressVoter {
public:
    explicit AddressVoter(VoterConfig config = {}) : config_(config) {}

    // Counts a ballot. Returns true if the agreed address changed (its IP address; a new port
    // alone is recorded without counting as a change). `now` must not go back from one call to
    // the next (a node's clock does not): each candidate's votes are kept in the order they
    // came, and expire from the front.
    bool add(TimePoint now, const Ballot& ballot);

    // The address agreed on, with the port the latest of its voters reported.
    const std::optional<Endpoint>& agreed() const noexcept { return agreed_; }
    // Voters (within the window) for the agreed address, and for every address.
    std::size_t agreed_votes() const noexcept;
    std::size_t total_votes() const noexcept;

private:
    struct Vote {
        Endpoint voter;  // voter_key(): a network, or on a local network an endpoint
        TimePoint at;
    };
    struct Candidate {
        Endpoint address;  // the port is the latest reported
        std::vector<Vote> votes;
    };
    void expire(TimePoint now);
    void forget(const Endpoint& voter);
    Candidate* find(const Endpoint& address);
    Candidate& candidate(const Endpoint& address);  // found, or made (room made first)

    VoterConfig config_;
    std::vector<Candidate> candidates_;
    std::optional<Endpoint> agreed_;
};

}  // namespace bep42
}  // namespace kad
