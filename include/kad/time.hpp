#pragma once
// Time in the core is a value passed in, never read: the core names the steady clock's types so
// that Boost.Asio's steady_timer can wait for them directly, and the simulator counts virtual time
// from TimePoint{}. Nothing under src/ except the runtime calls Clock::now().

#include <chrono>

namespace kad {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// Milliseconds as a double, for printing durations.
inline double to_ms(Duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace kad
