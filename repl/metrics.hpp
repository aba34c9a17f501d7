#pragma once
// Every number a running node reports, once: `stats` shows them (text and --json) and
// `--metrics` serves them to Prometheus (metrics_server.hpp), so the two never disagree.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kad/runtime.hpp"

namespace kadnode {

struct Metric {
    std::string name;  // as in stats: "packets_in"; Prometheus: kadnode_packets_in_total
    std::string help;
    bool counter = true;  // only ever goes up; else a gauge
    // Its dimension, if it has one: stats shows {"<value>": n, ...} under `name`.
    std::string label;
    std::vector<std::pair<std::string, std::uint64_t>>
        values;                // (label value, n); one ("", n) if none
    std::string_view section;  // where `stats` shows it: one of stats_sections()
};

std::vector<Metric> collect_metrics(const kad::AsioNode& node);

// The sections `stats` shows the metrics in, in order: "traffic", "rpc", ...
const std::vector<std::string_view>& stats_sections();
// The Prometheus text exposition format (version 0.0.4), with # HELP and # TYPE lines.
std::string prometheus_text(const std::vector<Metric>& metrics);

}  // namespace kadnode
