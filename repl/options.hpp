#pragma once
// kadnode's command line, config file (--config, the same options in ini form) and environment
// (KADNODE_<OPTION>, e.g. KADNODE_BIND=127.0.0.1:4000), in that order of precedence.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kad/identity.hpp"
#include "kad/log.hpp"
#include "kad/runtime.hpp"

namespace kadnode {

struct Options {
    kad::RuntimeConfig runtime;
    std::vector<std::string> bootstrap_addrs;  // HOST:PORT, resolved at start
    std::vector<kad::NodeId> bootstrap_ids;    // paired with the addresses in order
    std::string network = "kad";
    kad::LogLevel log_level = kad::LogLevel::Warn;
    std::string log_file;
    bool json = false;
    std::vector<std::string> exec;
    bool no_repl = false;
    bool discovery = true;
    kad::DiscoveryOptions discovery_options;
    kad::Duration join_timeout = std::chrono::seconds(5);
    bool bind_given = false;  // --bind was set (else a saved port may be reused)
    std::string state_dir;
    // --identity: the key that signs mput's items, read from its PEM file when the options are.
    std::optional<kad::Ed25519KeyPair> identity;
    kad::Duration save_interval = std::chrono::seconds(5);
    kad::JournalSync fsync;  // --fsync
    kad::Duration leave_timeout = std::chrono::seconds(5);
    std::optional<kad::Endpoint> metrics;  // --metrics: where Prometheus scrapes (TCP)
    // --control: the control socket's path (kadnode-cli); none with --no-control; else the
    // default (control_path(), control.hpp).
    std::optional<std::string> control;
    bool no_control = false;
};

// The parsed options, or the exit status to leave with: 0 after --help or --version, 2 after a
// bad flag or value (one line on stderr naming it).
std::variant<Options, int> parse_options(int argc, char** argv);

}  // namespace kadnode
