#pragma once
// Endpoints that did not answer a probe (a ping from our second port): most likely behind NAT,
// and not worth another probe for a while. The routing table asks before probing a querier.
//
// A ring of the last kSize noted, each a 32-bit hash of the endpoint and until when (whole
// seconds of the clock): 8 bytes an entry, and no memory until the first is noted. A hash
// collision only delays a probe.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/time.hpp"

namespace kad {

class UnreachableEndpoints {
public:
    static constexpr std::size_t kSize = 64;

    // ep is not to be probed again before `until`.
    void note(const Endpoint& ep, TimePoint until);
    bool contains(const Endpoint& ep, TimePoint now) const;

private:
    struct Entry {
        std::uint32_t hash = 0;
        std::uint32_t until_s = 0;
    };
    std::vector<Entry> ring_;
    std::size_t next_ = 0;  // the entry a full ring overwrites next
};

}  // namespace kad
