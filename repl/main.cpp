// kadnode: a Kademlia DHT node with a REPL, scriptable through --exec and stdin.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>

#include "command_util.hpp"
#include "console.hpp"
#include "control.hpp"
#include "kad/identity.hpp"
#include "metrics.hpp"
#include "metrics_server.hpp"
#include "options.hpp"
#include "persistence.hpp"
#include "shell.hpp"
#include "version.hpp"

namespace asio = boost::asio;
using kadnode::Reply;
using json = nlohmann::ordered_json;

namespace {

// Resolves HOST:PORT (an IP literal, [v6]:PORT, or a host name).
// --bootstrap-addr: an address, or a HOST:PORT resolved now (IPv4 preferred: the default
// socket is IPv4), as the probe commands resolve theirs (with_endpoint).
kad::Expected<kad::Endpoint> resolve(asio::io_context& io, const std::string& text) {
    if (auto ep = kad::Endpoint::parse(text)) return ep;
    auto hp = kadnode::split_host_port(text);
    if (!hp) return kad::unexpected(hp.error());
    boost::system::error_code ec;
    asio::ip::udp::resolver resolver(io);
    const auto results =
        resolver.resolve(hp->first, hp->second, asio::ip::resolver_base::numeric_service, ec);
    if (ec || results.empty()) {
        return kad::unexpected("'" + text + "': cannot resolve " + hp->first + ": " +
                               (ec ? ec.message() : std::string("no address")));
    }
    return kadnode::pick_address(results, false);
}

std::string timestamp() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

// Whether stderr goes to systemd's journal: the service manager names the stream it connected
// in JOURNAL_STREAM ("device:inode"), which stays in the environment of processes whose stderr
// is elsewhere, so it is compared with stderr itself.
bool stderr_is_journal() {
    const char* v = std::getenv("JOURNAL_STREAM");
    if (!v) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return std::string(v) ==
           std::to_string(st.st_dev) + ":" + std::to_string(static_cast<std::uint64_t>(st.st_ino));
}

// sd-daemon(3)'s prefix: the syslog priority, which journald takes off and keeps.
const char* journal_priority(kad::LogLevel l) {
    switch (l) {
        case kad::LogLevel::Error:
            return "<3>";
        case kad::LogLevel::Warn:
            return "<4>";
        case kad::LogLevel::Info:
            return "<6>";
        default:
            return "<7>";
    }
}

// Runs the program once the options are known: owns the node, the console or the stdin reader,
// the signals, and the queue of commands.
class App {
public:
    App(asio::io_context& io, kadnode::Options options)
        : io_(io),
          opts_(std::move(options)),
          signals_(io, SIGINT, SIGTERM),
          join_timer_(io),
          leave_timer_(io),
          retry_timer_(io) {}

    int run() {
        std::vector<kad::BootstrapPeer> peers;
        for (std::size_t i = 0; i < opts_.bootstrap_addrs.size(); ++i) {
            auto ep = resolve(io_, opts_.bootstrap_addrs[i]);
            if (!ep) {
                std::cerr << "kadnode: --bootstrap-addr " << ep.error() << "\n";
                return 2;
            }
            kad::BootstrapPeer p{*ep, std::nullopt};
            if (i < opts_.bootstrap_ids.size()) p.id = opts_.bootstrap_ids[i];
            peers.push_back(p);
        }
        std::optional<kad::SavedState> saved;
        if (!opts_.state_dir.empty()) {
            auto dir = kadnode::Persistence::open(
                io_, opts_.state_dir, {.save_interval = opts_.save_interval, .fsync = opts_.fsync});
            if (!dir) {
                std::cerr << "kadnode: --state-dir " << dir.error() << "\n";
                return 1;
            }
            state_ = std::move(*dir);
            std::string warning;
            saved = state_->load(warning);
            if (!warning.empty()) std::cerr << "kadnode: warning: " << warning << "\n";
            if (saved && !opts_.runtime.id) opts_.runtime.id = saved->id;
        }
        try {
            if (saved && !opts_.bind_given && saved->port != 0) {
                // The port it had, if it is still free: peers that knew us find us there.
                kad::RuntimeConfig again = opts_.runtime;
                again.bind = opts_.runtime.bind.with_port(saved->port);
                try {
                    node_ = std::make_unique<kad::AsioNode>(io_, again);
                } catch (const std::system_error&) {
                    std::cerr << "kadnode: port " << saved->port
                              << " is taken; listening on another\n";
                }
            }
            if (!node_) node_ = std::make_unique<kad::AsioNode>(io_, opts_.runtime);
        } catch (const std::system_error& e) {
            std::cerr << "kadnode: " << e.what() << "\n";
            return 1;
        }
        std::vector<kad::BootstrapPeer> saved_peers;
        if (saved) {
            node_->restore(*saved);
            // Rejoin through the contacts we had, unless told otherwise.
            if (peers.empty()) {
                for (const auto& c : saved->contacts) saved_peers.push_back({c.endpoint, c.id});
            }
        }
        if (!opts_.log_file.empty()) {
            log_file_.open(opts_.log_file, std::ios::app);
            if (!log_file_) {
                std::cerr << "kadnode: --log-file " << opts_.log_file << ": cannot open it\n";
                return 2;
            }
        }
        shell_ = std::make_unique<kadnode::Shell>(*node_, kad::Clock::now(), opts_.network);
        shell_->set_output([this](const Reply& r) { print(kadnode::render(r, opts_.json)); });
        shell_->set_events([this](const std::string& name, const json& fields,
                                  const std::string& text) { event(name, fields, text); });
        if (opts_.identity) {
            shell_->set_identity(
                [key = *opts_.identity]() -> kad::Expected<kad::Ed25519KeyPair> { return key; });
        } else if (state_) {
            shell_->set_identity([path = state_->path() + "/identity.pem",
                                  key = std::optional<kad::Ed25519KeyPair>()]() mutable
                                 -> kad::Expected<kad::Ed25519KeyPair> {
                if (key) return *key;
                auto loaded = kad::load_or_create_identity(path);
                if (!loaded) return kad::unexpected("identity " + loaded.error());
                key = *loaded;
                return *key;
            });
        }

        interactive_ = opts_.exec.empty() && !opts_.no_repl && ::isatty(STDIN_FILENO);
        if (interactive_) {
            const char* home = std::getenv("HOME");
            console_ = std::make_unique<kadnode::Console>(
                io_, "kad " + node_->id().short_hex() + "> ",
                home ? std::string(home) + "/.kadnode_history" : std::string(),
                [this](std::optional<std::string> line) { on_console_line(std::move(line)); });
        }
        install_logger();
        node_->set_id_observer([this](const kad::NodeId& old_id, const kad::NodeId& new_id) {
            // Outside the node's own call: saving reads the whole node.
            asio::post(io_, [this, old_id, new_id] { on_new_id(old_id, new_id); });
        });
        node_->set_superseded_observer([this](const kad::Node::Superseded& s) {
            asio::post(io_, [this, s] { on_superseded(s); });
        });
        if (opts_.discovery) {
            try {
                auto& d = node_->enable_discovery(opts_.discovery_options);
                d.set_observer(
                    [this](kad::Discovery::Change c, const kad::LanPeer& p) { on_peer(c, p); });
            } catch (const std::invalid_argument& e) {
                std::cerr << "kadnode: LAN discovery: " << e.what() << "\n";
                return 2;
            } catch (const std::exception& e) {
                std::cerr << "kadnode: LAN discovery is off: " << e.what()
                          << " (--no-discovery turns it off quietly)\n";
            }
        }
        wait_for_signals();
        if (interactive_) {
            winch_ = std::make_unique<asio::signal_set>(io_, SIGWINCH);
            wait_for_resize();
        }
        if (state_ && !state_->start(*node_, node_logger_,
                                     [this](const std::string& line) { print_problem(line); })) {
            return 1;
        }
        if (opts_.metrics && !serve_metrics()) return 1;
        if (!serve_control()) return 1;
        announce_ready();

        if (!opts_.exec.empty()) {
            for (const auto& c : opts_.exec) queue_.push_back(c);
            input_done_ = true;
        } else if (!opts_.no_repl && !interactive_) {
            read_stdin();
        }
        if (!peers.empty()) {
            node_->async_bootstrap(peers, [this](const kad::BootstrapResult& r) { on_joined(r); });
        } else if (!saved_peers.empty()) {
            // After a restart the saved contacts may not be up yet (a whole network restarting):
            // keep trying, and let scripts start at --join-timeout meanwhile.
            wait_for_join("no saved contact answered within ");
            rejoin(std::move(saved_peers), std::chrono::seconds(1));
        } else if (node_->discovery()) {
            // Joined once the first peer found on the LAN has answered and our own ID has been
            // looked up through it, or when --join-timeout has passed.
            join_via_lan_ = true;
            wait_for_join("no peer found on the LAN within ");
        } else {
            joined_ = true;
        }
        if (interactive_) console_->resume();
        pump();
        io_.run();
        return exit_code_;
    }

private:
    void print(const std::string& text) { kadnode::print_line(console_.get(), text); }

    void event(const std::string& name, json fields, const std::string& human) {
        if (opts_.json) {
            json j = {{"event", name}};
            for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
            print(kadnode::dump(j));
        } else {
            print(human);
        }
        if (control_) control_->event(name, fields, human);
    }

    void install_logger() {
        // Under systemd, lines that journald keeps well: its own timestamp, our priority.
        const bool journal = !log_file_.is_open() && !console_ && stderr_is_journal();
        node_logger_ =
            kad::Logger(opts_.log_level, [this, journal](kad::LogLevel l, std::string_view msg) {
                const std::string line =
                    journal ? journal_priority(l) + std::string(kad::to_string(l)) + " " +
                                  std::string(msg)
                            : timestamp() + " " + kad::to_string(l) + " " + std::string(msg);
                if (log_file_.is_open()) {
                    log_file_ << line << "\n";
                    log_file_.flush();
                } else if (console_) {
                    console_->print_error(line);
                } else {
                    std::fputs((line + "\n").c_str(), stderr);
                }
            });
        node_->set_logger(node_logger_);
    }

    // BEP 42: responders agreed on a public address our random ID did not match.
    void on_new_id(const kad::NodeId& old_id, const kad::NodeId& new_id) {
        const auto& ext = node_->node().external_address();
        const std::string addr = ext ? ext->address_string() : std::string();
        event("id", {{"id", new_id.to_hex()}, {"old_id", old_id.to_hex()}, {"external_addr", addr}},
              "new node id " + new_id.to_hex() + ", matching our public address " + addr +
                  " (BEP 42)");
        if (console_) console_->set_prompt("kad " + new_id.short_hex() + "> ");
        if (state_) state_->save();
    }

    // A value or item we published was replaced by another writer's newer version: we stop
    // keeping ours alive, and say so.
    void on_superseded(const kad::Node::Superseded& s) {
        const bool item = s.store == kad::Node::Store::Items;
        json fields = {{"store", item ? "bep44" : "values"}, {"target", s.target.to_hex()}};
        std::string human = "superseded: ";
        if (item) {
            human += "BEP 44 item " + s.target.to_hex();
        } else {
            fields["key"] = s.key;
            human += "key " + kadnode::quote(s.key);
        }
        human += " now has a newer version";
        if (s.seq) {
            fields["seq"] = *s.seq;
            human += " (seq " + std::to_string(*s.seq) + ")";
        }
        if (s.by && !s.by->is_unspecified()) {
            fields["by"] = s.by->to_string();
            human += " from " + s.by->to_string();
        } else if (item) {
            human += " in the network";
        }
        event("superseded", fields, human + "; no longer refreshed from here");
    }

    void announce_ready() {
        const auto addr = node_->local_endpoint();
        std::string human = "kadnode " + std::string(kadnode::kVersion) + ": node " +
                            node_->id().to_hex() + " listening on " + addr.to_string();
        json fields = {{"id", node_->id().to_hex()}, {"addr", addr.to_string()}};
        if (const auto probe = node_->probe_endpoint()) fields["probe_addr"] = probe->to_string();
        if (metrics_) {
            const auto at = metrics_->local_endpoint();
            const std::string url = (at.address().is_v6() ? "[" + at.address().to_string() + "]"
                                                          : at.address().to_string()) +
                                    ":" + std::to_string(at.port());
            fields["metrics"] = url;
            human += "\nmetrics at http://" + url + "/metrics";
        }
        if (control_) {
            fields["control"] = control_->path();
            // Not in a script's output, whose first line is this one's: its line count is kept.
            if (interactive_ || opts_.no_repl) {
                human += "\ncontrol socket at " + control_->path() + " (kadnode-cli)";
            }
        }
        if (interactive_) human += "\ntype help for the commands, quit or Ctrl-D to leave";
        event("ready", fields, human);
    }

    // The control socket (control.hpp): kadnode-cli's commands, run by this node's shell.
    bool serve_control() {
        const auto path = kadnode::control_path(opts_.control, opts_.no_control, opts_.state_dir);
        if (!path) return true;
        if (!opts_.control && !kadnode::ControlServer::fits(*path)) {
            // The default, under a state directory too deep for one: do without.
            std::cerr << "kadnode: warning: no control socket: " << *path
                      << " is too long for a Unix socket (--control PATH picks another)\n";
            return true;
        }
        auto server = kadnode::ControlServer::open(
            io_, *path,
            [this](const std::string& line, const kadnode::Output& output,
                   std::function<void(Reply)> done, kad::CancelSignal& cancel, std::size_t width) {
                shell_->run(line, std::move(done), output, &cancel, width);
            },
            [this] {
                return json{{"version", kadnode::kVersion},
                            {"id", node_->id().to_hex()},
                            {"addr", node_->local_endpoint().to_string()}};
            });
        if (!server) {
            std::cerr << "kadnode: control socket " << server.error()
                      << " (--control PATH picks another, --no-control serves none)\n";
            return false;
        }
        control_ = std::move(*server);
        return true;
    }

    // --metrics: the counters of `stats` for Prometheus (metrics.hpp, metrics_server.hpp).
    bool serve_metrics() {
        try {
            const asio::ip::tcp::endpoint at(
                asio::ip::make_address(opts_.metrics->address_string()), opts_.metrics->port());
            metrics_ = std::make_unique<kadnode::MetricsServer>(io_, at, [this] {
                return kadnode::prometheus_text(kadnode::collect_metrics(*node_));
            });
            return true;
        } catch (const std::exception& e) {
            std::cerr << "kadnode: --metrics " << opts_.metrics->to_string() << ": " << e.what()
                      << "\n";
            return false;
        }
    }

    // Scripts start at --join-timeout if the node has not joined by then.
    void wait_for_join(std::string why) {
        join_timer_.expires_after(opts_.join_timeout);
        join_timer_.async_wait([this, why](const boost::system::error_code& ec) {
            if (ec || joined_ || stopping_) return;
            joined_ = true;
            const auto contacts = node_->node().routing_table().size();
            const std::string note = why + fixed_seconds(opts_.join_timeout);
            event("joined", {{"ok", true}, {"contacts", contacts}, {"note", note}},
                  note + "; running alone");
            pump();
        });
    }

    void rejoin(std::vector<kad::BootstrapPeer> peers, kad::Duration backoff) {
        node_->async_bootstrap(peers, [this, peers, backoff](const kad::BootstrapResult& r) {
            if (stopping_) return;
            if (r.ok) {
                if (!joined_) {
                    join_timer_.cancel();
                    on_joined(r);
                }
                return;
            }
            retry_timer_.expires_after(backoff);
            retry_timer_.async_wait([this, peers, backoff](const boost::system::error_code& ec) {
                if (ec || stopping_) return;
                rejoin(peers, std::min<kad::Duration>(backoff * 2, std::chrono::seconds(60)));
            });
        });
    }

    void on_peer(kad::Discovery::Change c, const kad::LanPeer& p) {
        if (c == kad::Discovery::Change::Joined) {
            json fields = {{"id", p.id.to_hex()}, {"addr", p.endpoint.to_string()}};
            std::string human = "peer joined: " + p.id.to_hex() + " at " + p.endpoint.to_string();
            if (p.rtt) {
                fields["rtt_ms"] = std::round(kad::to_ms(*p.rtt) * 1000.0) / 1000.0;
                human += ", rtt " + fixed_ms(*p.rtt);
            }
            event("peer_joined", fields, human);
            if (join_via_lan_ && !lan_bootstrap_started_ && !stopping_) {
                lan_bootstrap_started_ = true;
                node_->async_bootstrap({{p.endpoint, p.id}}, [this](const kad::BootstrapResult& r) {
                    if (joined_ || stopping_) return;  // --join-timeout came first
                    join_timer_.cancel();
                    on_joined(r);
                });
            }
        } else {
            const char* reason = c == kad::Discovery::Change::Left ? "left" : "silent";
            event("peer_left",
                  {{"id", p.id.to_hex()}, {"addr", p.endpoint.to_string()}, {"reason", reason}},
                  "peer left: " + p.id.to_hex() + " at " + p.endpoint.to_string() + " (" +
                      (c == kad::Discovery::Change::Left ? "it left" : "silent") + ")");
        }
    }

    static std::string fixed_ms(kad::Duration d) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f ms", kad::to_ms(d));
        return buf;
    }

    static std::string fixed_seconds(kad::Duration d) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g s", std::chrono::duration<double>(d).count());
        return buf;
    }

    void on_joined(const kad::BootstrapResult& r) {
        if (stopping_) return;  // cancelled by the stop: its status stands (130 after SIGINT)
        joined_ = true;
        // The script's commands still run (they may not need the network), but the script
        // did not get what it asked for.
        if (!r.ok && !interactive_) exit_code_ = 1;
        if (r.ok) {
            event("joined", {{"ok", true}, {"contacts", r.contacts}},
                  "joined the network: " + std::to_string(r.contacts) +
                      (r.contacts == 1 ? " contact" : " contacts"));
        } else {
            event(
                "joined",
                {{"ok", false}, {"error", r.error}, {"code", std::string(kad::to_string(r.code))}},
                "bootstrap failed: " + r.error);
        }
        pump();
    }

    void wait_for_signals() {
        signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
            if (ec) return;
            if (stopping_) {
                finish_shutdown();  // a second signal: stop handing off, leave now
                return;
            }
            if (signo == SIGINT && interactive_) {
                // Ctrl-C, as in bash: cancel the command that runs, or drop the typed line.
                if (running_) {
                    std::fputc('\n', stdout);  // after the ^C the terminal echoed
                    command_cancel_.emit();    // the command completes "cancelled"
                } else {
                    console_->interrupt();
                }
                wait_for_signals();
                return;
            }
            // SIGTERM; SIGINT to a script (--exec, stdin) stops it with 128 + 2, as a shell does
            // (a service, --no-repl, stops with 0 either way).
            const bool script = !interactive_ && !opts_.no_repl;
            shutdown(signo == SIGINT && script ? 130 : exit_code_);
            if (!finished_) wait_for_signals();  // still handing off: a second signal ends it
        });
    }

    void wait_for_resize() {
        winch_->async_wait([this](const boost::system::error_code& ec, int) {
            if (ec || stopping_) return;
            console_->resize();
            wait_for_resize();
        });
    }

    void read_stdin() {
        struct stat st {};
        if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
            // A file cannot be waited on (epoll refuses it) and never blocks: read it now.
            std::string line;
            while (std::getline(std::cin, line)) queue_.push_back(line);
            input_done_ = true;
            return;
        }
        // Asio makes the descriptor non-blocking, which the process that handed us this pipe
        // shares: put the flags back when we are done.
        stdin_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
        stdin_ = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(STDIN_FILENO));
        read_more();
    }

    void read_more() {
        asio::async_read_until(
            *stdin_, stdin_buf_, '\n', [this](const boost::system::error_code& ec, std::size_t n) {
                if (stopping_) return;
                if (!ec) {
                    std::string line(
                        asio::buffers_begin(stdin_buf_.data()),
                        asio::buffers_begin(stdin_buf_.data()) + static_cast<std::ptrdiff_t>(n));
                    stdin_buf_.consume(n);
                    queue_.push_back(line);
                    pump();
                    read_more();
                    return;
                }
                // End of input (or an error): a last line without '\n'.
                if (stdin_buf_.size() > 0) {
                    std::string rest(asio::buffers_begin(stdin_buf_.data()),
                                     asio::buffers_end(stdin_buf_.data()));
                    stdin_buf_.consume(stdin_buf_.size());
                    queue_.push_back(rest);
                }
                input_done_ = true;
                pump();
            });
    }

    void on_console_line(std::optional<std::string> line) {
        if (!line) {  // Ctrl-D: as quit, "bye" (or its JSON) included
            execute("quit", [] {});
            return;
        }
        execute(*line, [this] {
            if (!stopping_) console_->resume();
        });
    }

    // Runs queued script commands one at a time, in order, once joined.
    void pump() {
        if (stopping_ || interactive_ || running_ || !joined_) return;
        if (queue_.empty()) {
            if (input_done_) shutdown(exit_code_);
            return;
        }
        std::string line = std::move(queue_.front());
        queue_.pop_front();
        execute(line, [this] { pump(); });
    }

    void execute(const std::string& line, std::function<void()> then) {
        running_ = true;
        command_cancel_.clear();  // the previous command's operations have ended
        shell_->run(
            line,
            [this, then = std::move(then)](Reply r) {
                running_ = false;
                if (stopping_) {  // cancelled by the shutdown: say so, but it is not a failure
                    print(kadnode::render(r, opts_.json));
                    return;
                }
                if (r.blank) {
                    then();
                    return;
                }
                if (!r.ok && !interactive_) exit_code_ = 1;
                print(kadnode::render(r, opts_.json));
                if (r.quit) {
                    shutdown(exit_code_);
                    return;
                }
                then();
            },
            &command_cancel_, interactive_ ? kadnode::terminal_width() : 0);
    }

    // A clean stop: hand the items over (bounded by --leave-timeout), save, close.
    void shutdown(int code) {
        if (stopping_) return;
        stopping_ = true;
        exit_code_ = code;
        if (state_) state_->stopping();  // no more periodic snapshots while handing off
        command_cancel_.emit();          // a name lookup the command waits on, too
        if (console_) console_->stop();
        if (control_) control_->close();  // its clients' commands are cancelled with the node's
        join_timer_.cancel();
        if (stdin_) {
            boost::system::error_code ignored;
            stdin_->close(ignored);
            if (stdin_flags_ >= 0) ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_);
        }
        if (winch_) winch_->cancel();
        const auto& n = node_->node();
        if (opts_.leave_timeout > kad::Duration::zero() && n.storage().size() > 0 &&
            n.routing_table().size() > 0) {
            leave_timer_.expires_after(opts_.leave_timeout);
            leave_timer_.async_wait([this](const boost::system::error_code& ec) {
                if (ec || finished_) return;
                event("handoff", {{"timed_out", true}},
                      "handing the items over took longer than --leave-timeout; leaving now");
                finish_shutdown();
            });
            node_->async_hand_off([this](const kad::HandoffResult& r) {
                if (finished_) return;
                event("handoff",
                      {{"items", r.items},
                       {"stored", r.stored},
                       {"already_had", r.already_had},
                       {"failed", r.failed},
                       {"short", r.short_items},
                       {"ms", std::round(kad::to_ms(r.elapsed) * 1000.0) / 1000.0}},
                      // Stored, held and failed count copies (an item on each of k nodes).
                      "handed " + kadnode::plural(r.items, "item", "items") +
                          " to their nearest nodes: " +
                          kadnode::plural(r.stored + r.already_had + r.failed, "copy", "copies") +
                          ", " + std::to_string(r.stored) + " stored, " +
                          std::to_string(r.already_had) + " there already, " +
                          std::to_string(r.failed) + " failed");
                finish_shutdown();
            });
            return;
        }
        finish_shutdown();
    }

    void finish_shutdown() {
        if (finished_) return;
        finished_ = true;
        leave_timer_.cancel();
        retry_timer_.cancel();
        if (state_) state_->finish();
        node_->close();  // with discovery on, multicasts that we are leaving
        signals_.cancel();
    }

    void print_problem(const std::string& line) { kadnode::print_problem(console_.get(), line); }

    asio::io_context& io_;
    kadnode::Options opts_;
    asio::signal_set signals_;
    asio::steady_timer join_timer_;
    asio::steady_timer leave_timer_;
    asio::steady_timer retry_timer_;
    // --state-dir. Declared before the node, which writes to its journal until it is destroyed.
    std::unique_ptr<kadnode::Persistence> state_;
    bool finished_ = false;
    std::unique_ptr<kad::AsioNode> node_;
    std::unique_ptr<kadnode::MetricsServer> metrics_;  // after node_: destroyed before it
    std::unique_ptr<kadnode::Shell> shell_;
    kad::CancelSignal command_cancel_;  // Ctrl-C: the command typed or read runs in its scope
    std::unique_ptr<kadnode::ControlServer> control_;  // after shell_: destroyed before it
    std::unique_ptr<kadnode::Console> console_;
    std::unique_ptr<asio::posix::stream_descriptor> stdin_;
    std::unique_ptr<asio::signal_set> winch_;
    int stdin_flags_ = -1;
    asio::streambuf stdin_buf_;
    std::ofstream log_file_;
    kad::Logger node_logger_;
    std::deque<std::string> queue_;
    bool interactive_ = false;
    bool joined_ = false;
    bool join_via_lan_ = false;
    bool lan_bootstrap_started_ = false;
    bool running_ = false;
    bool input_done_ = false;
    bool stopping_ = false;
    int exit_code_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    auto parsed = kadnode::parse_options(argc, argv);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    try {
        asio::io_context io;
        App app(io, std::move(std::get<kadnode::Options>(parsed)));
        return app.run();
    } catch (const std::exception& e) {
        std::cerr << "kadnode: " << e.what() << "\n";
        return 1;
    }
}
