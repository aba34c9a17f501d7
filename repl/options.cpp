#include "options.hpp"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "control_protocol.hpp"
#include "version.hpp"

namespace kadnode {

namespace po = boost::program_options;

namespace {

class BadValue : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

template <class T>
std::string show(T v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

template <class T>
T in_range(const po::variables_map& vm, const char* name, T lo, T hi) {
    const T v = vm[name].as<T>();
    if (!(v >= lo && v <= hi)) {
        throw BadValue("--" + std::string(name) + " " + show(v) + ": must be from " + show(lo) +
                       " to " + show(hi));
    }
    return v;
}

// KADNODE_LOG_LEVEL -> log-level.
std::string option_of_env(const std::string& env) {
    std::string name = env.substr(8);
    for (char& c : name) {
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return name;
}

std::string trim(const std::string& text) {
    const auto b = text.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    const auto e = text.find_last_not_of(" \t\r");
    return text.substr(b, e - b + 1);
}

// A config file's lines as "option=value" lines for Boost's parser, each checked on its own
// first so that an error names the file and the line. A bare switch ("no-discovery") means
// "no-discovery = true".
std::string read_config_file(const std::string& path, const po::options_description& options) {
    std::ifstream in(path);
    if (!in) throw BadValue("--config " + path + ": cannot read the file");
    std::string out, line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string where = path + ":" + std::to_string(number) + ": ";
        const std::string text = trim(line.substr(0, line.find('#')));  // '#' starts a comment
        if (text.empty() || text[0] == ';') continue;
        const auto eq = text.find('=');
        const std::string key = trim(text.substr(0, eq));
        std::string value = eq == std::string::npos ? std::string() : trim(text.substr(eq + 1));
        const po::option_description* option = options.find_nothrow(key, false);
        if (key == "config") throw BadValue(where + "a config file cannot name another");
        if (!option) throw BadValue(where + "unknown option '" + key + "'");
        if (eq == std::string::npos) {
            if (option->semantic()->max_tokens() != 0) {
                throw BadValue(where + "'" + key + "' needs a value (" + key + " = ...)");
            }
            value = "true";
        }
        const std::string normalized = key + "=" + value + "\n";
        try {
            std::istringstream one(normalized);
            po::variables_map scratch;
            po::store(po::parse_config_file(one, options), scratch);
        } catch (const po::error& e) {
            throw BadValue(where + e.what());
        }
        out += normalized;
    }
    return out;
}

}  // namespace

std::variant<Options, int> parse_options(int argc, char** argv) {
    Options o;
    po::options_description node("Node");
    {
        auto add = node.add_options();
        add("id", po::value<std::string>()->value_name("HEX"),
            "node id, 40 hex digits (default: random, then one that matches the public address "
            "responders agree on, BEP 42)");
        add("bind", po::value<std::string>()->default_value("0.0.0.0:0")->value_name("ADDR:PORT"),
            "UDP address to listen on; port 0 picks a free one; [::]:PORT serves IPv6 and IPv4");
        add("bootstrap-addr",
            po::value<std::vector<std::string>>()->composing()->value_name("HOST:PORT"),
            "join through this node (repeatable; a host name is resolved)");
        add("bootstrap-id", po::value<std::vector<std::string>>()->composing()->value_name("HEX"),
            "the id the bootstrap node must answer with (repeatable, paired in order)");
        add("network", po::value<std::string>()->default_value("kad")->value_name("NAME"),
            "network name: LAN discovery ignores other networks");
        add("k", po::value<std::size_t>()->default_value(20),
            "bucket size and replication factor (1-64)");
        add("alpha", po::value<std::size_t>()->default_value(3),
            "queries in flight per lookup (1-16)");
        add("timeout-ms", po::value<int>()->default_value(2000)->value_name("MS"),
            "a query with no reply after this long has failed (10-60000)");
        add("max-value-size", po::value<std::size_t>()->default_value(1000)->value_name("BYTES"),
            "largest value stored or put (1-32768)");
        add("state-dir", po::value<std::string>()->value_name("DIR"),
            "keep the id, port, contacts and stored items in DIR across restarts");
        add("read-only", po::bool_switch(),
            "BEP 43: answer no queries and say so in our own (\"ro\": 1), so that other nodes keep "
            "this one out of their routing tables");
        add("bep42", po::value<std::string>()->default_value("prefer")->value_name("POLICY"),
            "BEP 42, IDs that match their address: any (count them), prefer (a match takes a "
            "nonmatching contact's slot) or require (no other enters the routing table)");
        add("identity", po::value<std::string>()->value_name("FILE"),
            "the Ed25519 key (PEM) that signs this node's mutable items (mput); default: "
            "identity.pem in --state-dir, made on first use");
        add("save-interval", po::value<double>()->default_value(5)->value_name("SECONDS"),
            "with --state-dir: fold the journal into the state file at most this often (and at "
            "a clean stop)");
        add("fsync", po::value<std::string>()->default_value("1s")->value_name("POLICY"),
            "with --state-dir: when the journal of stores reaches the disk: always (before each "
            "store is answered), never (when the kernel decides), or every interval (250ms, 1s)");
        add("leave-timeout", po::value<double>()->default_value(5)->value_name("SECONDS"),
            "at a clean stop, hand the stored items to their nearest nodes for at most this "
            "long first (0: do not)");
        add("metrics", po::value<std::string>()->value_name("[ADDR:]PORT"),
            "serve the counters of stats to Prometheus over HTTP at http://ADDR:PORT/metrics "
            "(ADDR: 127.0.0.1 unless given; port 0: any free one)");
    }
    po::options_description limits("Limits (against floods and hostile peers; docs/SECURITY.md)");
    {
        auto add = limits.add_options();
        add("rate-limit", po::value<double>()->default_value(20)->value_name("N"),
            "datagrams per second one public address may send us (burst: 5 s worth); 0: no "
            "rate limits at all");
        add("local-rate-limit", po::value<double>()->default_value(5000)->value_name("N"),
            "the same for a loopback address and port, or a private address");
        add("global-rate-limit", po::value<double>()->default_value(20000)->value_name("N"),
            "datagrams per second from all sources together (contacts exempt)");
        add("max-items", po::value<std::size_t>()->default_value(100000)->value_name("N"),
            "items this node stores for others and itself");
        add("max-store-bytes",
            po::value<std::size_t>()->default_value(64 * 1024 * 1024)->value_name("BYTES"),
            "bytes of keys and values this node stores");
        add("store-share", po::value<double>()->default_value(0.25)->value_name("FRACTION"),
            "the share of the store one address (IPv6: one /64) may hold");
        add("restrict-local", po::bool_switch(),
            "apply the per-address and per-/24 routing limits to loopback and private "
            "addresses too");
        add("no-probe-port", po::bool_switch(),
            "open no second UDP port: verify nodes that query us from our own port (nodes "
            "behind NAT then enter the routing table and are handed on to others)");
    }

    po::options_description lan("LAN discovery (on unless --no-discovery)");
    {
        auto add = lan.add_options();
        add("no-discovery", po::bool_switch(), "do not look for peers on the LAN");
        add("discovery-group",
            po::value<std::vector<std::string>>()->composing()->value_name("ADDR"),
            "multicast group, IPv4 or IPv6 (default 239.192.75.68 and ff02::4b44)");
        add("discovery-port", po::value<int>()->default_value(7475)->value_name("PORT"),
            "UDP port of the discovery group");
        add("discovery-interface",
            po::value<std::vector<std::string>>()->composing()->value_name("NAME"),
            "announce and listen on this interface (repeatable; default: every "
            "multicast-capable interface, and loopback)");
        add("discovery-interval", po::value<double>()->default_value(5)->value_name("SECONDS"),
            "seconds between announcements on a small LAN (they slow down as the LAN grows)");
        add("discovery-key", po::value<std::string>()->value_name("FILE"),
            "sign announcements with the key in FILE (HMAC-SHA256); ignore unsigned ones");
        add("join-timeout", po::value<double>()->default_value(5)->value_name("SECONDS"),
            "with discovery and no --bootstrap-addr: how long scripts wait for a first peer");
    }
    po::options_description run("Running");
    {
        auto add = run.add_options();
        add("exec", po::value<std::vector<std::string>>()->composing()->value_name("COMMAND"),
            "run COMMAND once joined (repeatable, in order), then exit");
        add("no-repl", po::bool_switch(), "serve until SIGINT or SIGTERM, reading no commands");
        add("control", po::value<std::string>()->value_name("PATH"),
            "serve the commands to kadnode-cli on a Unix socket at PATH (made 0600, for this "
            "user and root; default: $RUNTIME_DIRECTORY/control under systemd, else "
            "DIR/control with --state-dir DIR, else none)");
        add("no-control", po::bool_switch(), "serve no control socket");
        add("json", po::bool_switch(), "print every result and event as one JSON object per line");
        add("log-level", po::value<std::string>()->default_value("warn")->value_name("LEVEL"),
            "trace, debug, info, warn, error or off");
        add("log-file", po::value<std::string>()->value_name("FILE"),
            "append log lines to FILE instead of stderr");
        add("config", po::value<std::string>()->value_name("FILE"),
            "read options from FILE (ini: bind = 127.0.0.1:4000)");
    }
    po::options_description info("Information");
    {
        auto add = info.add_options();
        add("help,h", "print this help and exit");
        add("version", "print the version and exit");
    }

    po::options_description all;
    all.add(node).add(limits).add(lan).add(run).add(info);
    po::options_description file_options;  // what a config file may set
    file_options.add(node).add(limits).add(lan).add(run);

    po::variables_map vm;
    try {
        const auto parsed = po::command_line_parser(argc, argv).options(all).run();
        // Words that are no option's value: a command typed without --exec, most likely.
        const auto stray = po::collect_unrecognized(parsed.options, po::include_positional);
        if (!stray.empty()) {
            const std::string words = control::join_words(stray);
            throw BadValue("unexpected '" + words +
                           "' on the command line (a command goes after --exec: kadnode --exec '" +
                           words + "')");
        }
        po::store(parsed, vm);
        std::string unknown_env;  // the first KADNODE_ variable that names no option
        po::store(po::parse_environment(file_options,
                                        [&](const std::string& env) -> std::string {
                                            if (env.rfind("KADNODE_", 0) != 0) return {};
                                            std::string name = option_of_env(env);
                                            if (file_options.find_nothrow(name, false)) {
                                                return name;
                                            }
                                            if (unknown_env.empty()) unknown_env = env;
                                            return {};
                                        }),
                  vm);
        if (!unknown_env.empty()) {
            throw BadValue(unknown_env + " in the environment: there is no option --" +
                           option_of_env(unknown_env));
        }
        if (vm.count("config")) {
            const std::string path = vm["config"].as<std::string>();
            std::istringstream checked(read_config_file(path, file_options));
            po::store(po::parse_config_file(checked, file_options), vm);
        }
        po::notify(vm);

        if (vm.count("help")) {
            std::cout << "kadnode " << kVersion
                      << ": a Kademlia DHT node with a REPL.\n\n"
                         "usage: kadnode [options]\n"
                         "With no --exec and no --no-repl, kadnode reads commands: from the\n"
                         "terminal with line editing, or line by line from stdin when it is not a\n"
                         "terminal. Type help at the prompt for the commands.\n"
                      << all
                      << "\nEvery option may also come from the environment as\n"
                         "KADNODE_<OPTION> (KADNODE_BIND=127.0.0.1:4000, KADNODE_LOG_LEVEL=debug)\n"
                         "or from a --config file; the command line wins, then the environment.\n";
            return 0;
        }
        if (vm.count("version")) {
            std::cout << "kadnode " << kVersion << "\n";
            return 0;
        }

        if (vm.count("id")) {
            auto id = kad::NodeId::from_hex(vm["id"].as<std::string>());
            if (!id) throw BadValue("--id: " + id.error());
            o.runtime.id = *id;
        }
        auto bind = kad::Endpoint::parse(vm["bind"].as<std::string>());
        if (!bind) throw BadValue("--bind " + bind.error());
        o.runtime.bind = *bind;
        if (vm.count("bootstrap-addr")) {
            o.bootstrap_addrs = vm["bootstrap-addr"].as<std::vector<std::string>>();
        }
        if (vm.count("bootstrap-id")) {
            for (const auto& s : vm["bootstrap-id"].as<std::vector<std::string>>()) {
                auto id = kad::NodeId::from_hex(s);
                if (!id) throw BadValue("--bootstrap-id: " + id.error());
                o.bootstrap_ids.push_back(*id);
            }
            if (o.bootstrap_ids.size() > o.bootstrap_addrs.size()) {
                throw BadValue("--bootstrap-id given without a --bootstrap-addr to pair it with");
            }
        }
        o.network = vm["network"].as<std::string>();
        if (o.network.empty() || o.network.size() > 64) {
            throw BadValue("--network: a name of 1 to 64 characters");
        }
        auto& n = o.runtime.node;
        n.k = in_range<std::size_t>(vm, "k", 1, 64);
        n.alpha = in_range<std::size_t>(vm, "alpha", 1, 16);
        n.rpc_timeout = std::chrono::milliseconds(in_range<int>(vm, "timeout-ms", 10, 60000));
        n.storage.max_value_size = in_range<std::size_t>(vm, "max-value-size", 1, 32768);
        const double rate = in_range<double>(vm, "rate-limit", 0, 1e9);
        n.rate_limit.enabled = rate > 0;
        n.rate_limit.rate = rate;
        n.rate_limit.burst = std::max(1.0, rate * 5);
        n.rate_limit.local_rate = in_range<double>(vm, "local-rate-limit", 1, 1e9);
        n.rate_limit.local_burst = n.rate_limit.local_rate * 4;
        n.rate_limit.global_rate = in_range<double>(vm, "global-rate-limit", 1, 1e9);
        n.rate_limit.global_burst = n.rate_limit.global_rate * 2;
        n.storage.max_items = in_range<std::size_t>(vm, "max-items", 1, 100'000'000);
        n.storage.max_bytes = in_range<std::size_t>(vm, "max-store-bytes", 1024, 1ULL << 40);
        n.storage.max_share = in_range<double>(vm, "store-share", 0.001, 1);
        n.routing.restrict_local = vm["restrict-local"].as<bool>();
        o.runtime.probe_port = !vm["no-probe-port"].as<bool>();
        n.read_only = vm["read-only"].as<bool>();
        const auto policy = vm["bep42"].as<std::string>();
        if (policy == "any") {
            n.routing.id_policy = kad::IdPolicy::Any;
        } else if (policy == "prefer") {
            n.routing.id_policy = kad::IdPolicy::Prefer;
        } else if (policy == "require") {
            n.routing.id_policy = kad::IdPolicy::Require;
        } else {
            throw BadValue("--bep42 " + policy + ": one of any, prefer, require");
        }
        // An ID somebody chose is kept; one we drew is replaced by one matching our address.
        n.derive_id = vm.count("id") == 0;
        const auto level = kad::parse_log_level(vm["log-level"].as<std::string>());
        if (!level) {
            throw BadValue("--log-level " + vm["log-level"].as<std::string>() +
                           ": one of trace, debug, info, warn, error, off");
        }
        o.log_level = *level;
        if (vm.count("log-file")) o.log_file = vm["log-file"].as<std::string>();
        o.json = vm["json"].as<bool>();
        o.no_repl = vm["no-repl"].as<bool>();
        if (vm.count("exec")) o.exec = vm["exec"].as<std::vector<std::string>>();

        o.discovery = !vm["no-discovery"].as<bool>();
        auto& d = o.discovery_options;
        d.config.network = o.network;
        if (vm.count("discovery-group")) {
            for (const auto& g : vm["discovery-group"].as<std::vector<std::string>>()) {
                auto ep = kad::Endpoint::from_address(g, 1);
                if (!ep || !ep->is_multicast()) {
                    throw BadValue("--discovery-group " + g + ": not a multicast address");
                }
                (ep->is_v4() ? d.group_v4 : d.group_v6) = g;
            }
        }
        d.port = static_cast<std::uint16_t>(in_range<int>(vm, "discovery-port", 1, 65535));
        if (vm.count("discovery-interface")) {
            d.interfaces = vm["discovery-interface"].as<std::vector<std::string>>();
        }
        const double interval = in_range<double>(vm, "discovery-interval", 0.1, 3600);
        d.config.interval =
            std::chrono::duration_cast<kad::Duration>(std::chrono::duration<double>(interval));
        if (vm.count("discovery-key")) {
            const std::string path = vm["discovery-key"].as<std::string>();
            std::ifstream in(path, std::ios::binary);
            if (!in) throw BadValue("--discovery-key " + path + ": cannot read the file");
            d.config.key.assign(std::istreambuf_iterator<char>(in), {});
            if (d.config.key.empty())
                throw BadValue("--discovery-key " + path + ": the file is empty");
        }
        o.bind_given = !vm["bind"].defaulted();
        if (vm.count("state-dir")) {
            o.state_dir = vm["state-dir"].as<std::string>();
            if (o.state_dir.empty()) throw BadValue("--state-dir: an empty path");
        }
        if (vm.count("identity")) {
            const std::string path = vm["identity"].as<std::string>();
            if (path.empty()) throw BadValue("--identity: an empty path");
            auto key = kad::load_identity(path);
            if (!key) throw BadValue("--identity: " + key.error());
            o.identity = *key;
        }
        if (auto sync = kad::parse_sync(vm["fsync"].as<std::string>())) {
            o.fsync = *sync;
        } else {
            throw BadValue("--fsync: " + sync.error());
        }
        if (vm.count("metrics")) {
            const std::string m = vm["metrics"].as<std::string>();
            const bool port_only = !m.empty() && m.size() <= 5 &&
                                   m.find_first_not_of("0123456789") == std::string::npos;
            auto ep = kad::Endpoint::parse(port_only ? "127.0.0.1:" + m : m);
            if (!ep || (port_only && std::stoi(m) > 65535)) {
                throw BadValue("--metrics " + m + ": expected [ADDR:]PORT, such as 9464 or " +
                               "127.0.0.1:9464");
            }
            o.metrics = *ep;
        }
        o.save_interval = std::chrono::duration_cast<kad::Duration>(
            std::chrono::duration<double>(in_range<double>(vm, "save-interval", 0.1, 86400)));
        o.leave_timeout = std::chrono::duration_cast<kad::Duration>(
            std::chrono::duration<double>(in_range<double>(vm, "leave-timeout", 0, 600)));
        o.join_timeout = std::chrono::duration_cast<kad::Duration>(
            std::chrono::duration<double>(in_range<double>(vm, "join-timeout", 0, 3600)));
        o.no_control = vm["no-control"].as<bool>();
        if (vm.count("control")) {
            if (o.no_control) throw BadValue("--control and --no-control do not go together");
            o.control = vm["control"].as<std::string>();
            if (o.control->empty()) throw BadValue("--control: an empty path");
        }
        if (o.no_repl && !o.exec.empty()) throw BadValue("--exec and --no-repl do not go together");
    } catch (const po::error& e) {
        std::cerr << "kadnode: " << e.what() << " (see kadnode --help)\n";
        return 2;
    } catch (const BadValue& e) {
        std::cerr << "kadnode: " << e.what() << "\n";
        return 2;
    }
    return o;
}

}  // namespace kadnode
