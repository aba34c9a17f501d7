#include "kad/rtt.hpp"

namespace kad {

void RttEstimator::add_sample(Duration rtt) {
    if (!srtt) {
        srtt = rtt;
        rttvar = rtt / 2;
        return;
    }
    const Duration diff = *srtt > rtt ? *srtt - rtt : rtt - *srtt;
    rttvar = (rttvar * 3 + diff) / 4;
    srtt = (*srtt * 7 + rtt) / 8;
}

std::optional<Duration> RttEstimator::timeout() const {
    if (!srtt) return std::nullopt;
    return *srtt + 4 * rttvar;
}

}  // namespace kad
