#pragma once
// Round-trip time estimation as RFC 6298 §2: a smoothed RTT and its variation, moved by each
// sample without jumping on one slow reply. One type serves the node as a whole (the soft timeout
// of a query to a node we have no samples for) and each routing-table contact.

#include <optional>

#include "kad/time.hpp"

namespace kad {

struct RttEstimator {
    std::optional<Duration> srtt;  // none before the first sample
    Duration rttvar{};

    void add_sample(Duration rtt);
    // srtt + 4 x rttvar (RFC 6298's RTO, without its floor and ceiling), once sampled.
    std::optional<Duration> timeout() const;
    void reset() {
        srtt.reset();
        rttvar = Duration::zero();
    }
};

}  // namespace kad
