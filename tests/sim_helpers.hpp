#pragma once
// Shared fixtures for the tests on the virtual network.

#include <chrono>

#include "kad/sim/network.hpp"

namespace kad::test {

// A LAN-like link: a latency and a uniform jitter on top of it.
inline sim::LinkModel lan(Duration latency = std::chrono::milliseconds(1),
                          Duration jitter = std::chrono::microseconds(500)) {
    sim::LinkModel m;
    m.latency = latency;
    m.jitter = jitter;
    return m;
}

}  // namespace kad::test
