// kadload: a UDP load generator for one kadnode, on loopback or a test network.
//
// It sends KRPC queries (find_node or ping), malformed datagrams, or both in turn, at a fixed rate
// or as fast as the node answers (a window of queries in flight), and counts the answers. A second
// socket meanwhile pings the node at a steady pace, as an honest peer would, and reports how long
// it waited. It prints one JSON object.
//
//   kadload --target 127.0.0.1:4000 --kind find_node --rate 0 --seconds 5
//       how many find_node queries per second the node answers (run it with --rate-limit 0)
//   kadload --target 127.0.0.1:4000 --kind mixed --rate 200000 --seconds 5 --probe-ms 5
//       a flood, and what an honest peer sees meanwhile
//   kadload --target 127.0.0.1:4000 --fill 400 --rate 0
//       the same find_node rate, the node's routing table first filled with 400 contacts
//   kadload --target 127.0.0.1:4000 --kind store --rate 0 --seconds 5
//       how many stores per second the node accepts (and journals, with --state-dir)
//
// --kind store first asks the node for a write token (a find_value), then stores items of
// distinct 20-byte keys (--value-size bytes each) in turn, 20,000 of them or fewer (12 MiB in
// all, within the share of the node's store one source may hold), then the same again
// (refreshes, which the node journals too); the node's refusals (KRPC errors) are counted apart.
//
// --fill N opens N more sockets, each a contact with its own ID (20 for each bucket from the
// farthest, as in a large network), makes each known to the node with a ping and answers the
// node's queries to them (it pings a new contact before taking it) until the load ends.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/random.hpp"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

// A UDP socket for talking to the node at `target`: connected (send() and recv() reach it and
// hear only it), or not (send_to_target(); recvfrom() hears anyone, the node's second port too).
struct Socket {
    int fd = -1;
    sockaddr_storage target_addr{};
    socklen_t target_len = 0;
    explicit Socket(const kad::Endpoint& target, bool connected = true) {
        const bool v6 = target.is_v6();
        fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(target.port());
            std::memcpy(&a->sin6_addr, target.address_bytes().data(), 16);
            a->sin6_scope_id = target.scope_id();
            len = sizeof(sockaddr_in6);
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(target.port());
            std::memcpy(&a->sin_addr, target.address_bytes().data(), 4);
            len = sizeof(sockaddr_in);
        }
        target_addr = ss;
        target_len = len;
        if (connected && ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        }
    }
    void send_to_target(const std::string& data) const {
        (void)::sendto(fd, data.data(), data.size(), 0,
                       reinterpret_cast<const sockaddr*>(&target_addr), target_len);
    }
    ~Socket() {
        if (fd >= 0) ::close(fd);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
};

// Sends up to n datagrams from `msgs` (round robin from *next) in batches; returns how many left.
std::size_t send_batch(int fd, const std::vector<std::string>& msgs, std::size_t& next,
                       std::size_t n) {
    constexpr std::size_t kBatch = 64;
    mmsghdr hdrs[kBatch];
    iovec iovs[kBatch];
    std::size_t sent = 0;
    while (sent < n) {
        const std::size_t count = std::min(kBatch, n - sent);
        for (std::size_t i = 0; i < count; ++i) {
            const std::string& m = msgs[(next + i) % msgs.size()];
            iovs[i].iov_base = const_cast<char*>(m.data());
            iovs[i].iov_len = m.size();
            std::memset(&hdrs[i], 0, sizeof hdrs[i]);
            hdrs[i].msg_hdr.msg_iov = &iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        const int r = ::sendmmsg(fd, hdrs, static_cast<unsigned>(count), 0);
        if (r <= 0) break;  // the send buffer is full: try again later
        next += static_cast<std::size_t>(r);
        sent += static_cast<std::size_t>(r);
    }
    return sent;
}

// Reads every datagram waiting; returns how many were answers (responses or errors), and adds
// the errors to *errors.
std::size_t drain(int fd, std::size_t* errors = nullptr) {
    constexpr std::size_t kBatch = 64;
    static thread_local char bufs[kBatch][2048];
    mmsghdr hdrs[kBatch];
    iovec iovs[kBatch];
    std::size_t got = 0;
    for (;;) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            iovs[i] = {bufs[i], sizeof bufs[i]};
            std::memset(&hdrs[i], 0, sizeof hdrs[i]);
            hdrs[i].msg_hdr.msg_iov = &iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        const int r = ::recvmmsg(fd, hdrs, kBatch, MSG_DONTWAIT, nullptr);
        if (r <= 0) return got;
        // Answers only: the node also pings a querier it has not met, to verify it.
        static constexpr std::string_view kQuery = "1:y1:q";
        static constexpr std::string_view kError = "1:y1:e";
        for (int i = 0; i < r; ++i) {
            const std::string_view d(bufs[i], hdrs[i].msg_len);
            if (d.find(kQuery) == std::string_view::npos) ++got;
            if (errors && d.find(kError) != std::string_view::npos) ++*errors;
        }
    }
}

std::string query(const std::string& kind, std::uint32_t i, kad::RandomSource& rng) {
    kad::krpc::Message m;
    m.transaction = std::string(reinterpret_cast<const char*>(&i), 4);
    kad::krpc::Query q;
    q.id = kad::NodeId::random(rng);
    if (kind == "ping") {
        q.args = kad::krpc::PingArgs{};
    } else {
        q.args = kad::krpc::FindNodeArgs{kad::NodeId::random(rng), std::nullopt};
    }
    m.body = q;
    return kad::krpc::encode(m);
}

// A store of item i (a 20-byte key, seq 1), with the token the node gave this socket.
std::string store_query(std::uint32_t i, const std::string& token, std::size_t value_size,
                        kad::RandomSource& rng) {
    kad::krpc::StoreArgs a;
    a.key = std::string(20, '\0');
    for (char& c : a.key) c = static_cast<char>('a' + rng.uniform(26));
    a.target = kad::NodeId::from_key(a.key);
    a.token = token;
    a.value = std::string(value_size, static_cast<char>('a' + i % 26));
    a.seq = 1;
    kad::krpc::Message m;
    m.transaction = std::string(reinterpret_cast<const char*>(&i), 4);
    m.body = kad::krpc::Query{kad::NodeId::random(rng), std::move(a)};
    return kad::krpc::encode(m);
}

std::string malformed(std::uint32_t i) {
    // Truncated, wrongly typed and plain garbage datagrams, none of them a query to answer.
    switch (i % 4) {
        case 0:
            return "d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa6:target20:bbbbbbbbbbbbbbbbbbbbe1:q9:find_";
        case 1:
            return "d1:t2:aa1:y1:ze";
        case 2:
            return std::string(64, static_cast<char>('A' + i % 26));
        default:
            return "li" + std::to_string(i) + "ee";
    }
}

// A ping from `id`, encoded.
std::string ping_from(const kad::NodeId& id, std::string transaction) {
    kad::krpc::Message m;
    m.transaction = std::move(transaction);
    m.body = kad::krpc::Query{id, kad::krpc::PingArgs{}};
    return kad::krpc::encode(m);
}

// The node's answer to `query` on the socket, asked up to 10 times 100 ms apart; nullopt when
// it does not answer within a second.
std::optional<kad::krpc::Response> ask(const Socket& s, const std::string& query) {
    char buf[2048];
    for (int attempt = 0; attempt < 10; ++attempt) {
        if (::send(s.fd, query.data(), query.size(), 0) < 0) return std::nullopt;
        pollfd p{s.fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const ssize_t r = ::recv(s.fd, buf, sizeof buf, 0);
        if (r <= 0) continue;
        auto reply = kad::krpc::decode(std::string_view(buf, static_cast<std::size_t>(r)));
        if (!reply) continue;
        if (const auto* resp = std::get_if<kad::krpc::Response>(&reply->body)) return *resp;
    }
    return std::nullopt;
}

// The node's ID, from its answer to a ping.
std::optional<kad::NodeId> node_id_of(const kad::Endpoint& target) {
    Socket s(target);
    auto resp = ask(s, ping_from(kad::NodeId{}, "id"));
    if (!resp) return std::nullopt;
    return resp->id;
}

// The write token the node gives the socket, from its answer to a find_value.
std::optional<std::string> token_for(const Socket& s) {
    kad::krpc::Message m;
    m.transaction = "tk";
    m.body = kad::krpc::Query{kad::NodeId{}, kad::krpc::FindValueArgs{kad::NodeId{}, std::nullopt}};
    auto resp = ask(s, kad::krpc::encode(m));
    if (!resp) return std::nullopt;
    return resp->token;
}

// N contacts for the node's routing table: a socket each, answering what the node asks them.
class Filler {
public:
    Filler(const kad::Endpoint& target, const kad::NodeId& node_id, std::size_t n,
           kad::RandomSource& rng) {
        for (std::size_t i = 0; i < n; ++i) {
            // 20 contacts sharing 0 leading bits with the node, 20 sharing 1, ...: they land in
            // buckets that a large network fills.
            const int shared = static_cast<int>(i / 20) % 160;
            const kad::NodeId id =
                kad::NodeId::random_with_prefix(node_id.with_bit_flipped(shared), shared + 1, rng);
            // Not connected: the node verifies a contact with a ping from its second port.
            contacts_.push_back({std::make_unique<Socket>(target, false), id});
        }
    }

    // Introduces up to `count` contacts the node has not verified yet, with a ping from each. A
    // node verifies only so many new contacts at a time: offer a few, serve, offer more.
    void offer(std::size_t count) {
        for (std::size_t tried = 0; tried < contacts_.size() && count > 0; ++tried) {
            const std::size_t i = next_offer_++ % contacts_.size();
            if (verified_.count(i)) continue;
            contacts_[i].socket->send_to_target(ping_from(contacts_[i].id, "hi"));
            --count;
        }
    }

    std::size_t size() const { return contacts_.size(); }

    // Answers every datagram waiting on the contacts' sockets; returns after `wait_ms` of silence
    // at the longest.
    void serve(int wait_ms) {
        std::vector<pollfd> fds;
        for (const auto& c : contacts_) fds.push_back({c.socket->fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), wait_ms) <= 0) return;
        char buf[2048];
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (!(fds[i].revents & POLLIN)) continue;
            ssize_t r;
            sockaddr_storage from{};
            socklen_t from_len = sizeof from;
            while ((r = ::recvfrom(fds[i].fd, buf, sizeof buf, 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len)) > 0) {
                auto msg = kad::krpc::decode(std::string_view(buf, static_cast<std::size_t>(r)));
                if (!msg) continue;
                const auto* q = std::get_if<kad::krpc::Query>(&msg->body);
                if (!q) continue;  // the node's answer to our ping
                if (q->method() == kad::krpc::Method::Ping) verified_.insert(i);
                kad::krpc::Message reply;
                reply.transaction = msg->transaction;
                kad::krpc::Response resp;
                resp.id = contacts_[i].id;
                if (q->method() == kad::krpc::Method::FindValue ||
                    q->method() == kad::krpc::Method::Store) {
                    resp.token = "t";
                }
                reply.body = resp;
                const std::string out = kad::krpc::encode(reply);
                // To whichever of the node's ports asked.
                (void)::sendto(fds[i].fd, out.data(), out.size(), 0,
                               reinterpret_cast<const sockaddr*>(&from), from_len);
                from_len = sizeof from;
            }
        }
    }

    // Contacts the node pinged back (a node verifies a new contact before it takes it).
    std::size_t verified() const { return verified_.size(); }

private:
    struct Contact {
        std::unique_ptr<Socket> socket;
        kad::NodeId id;
    };
    std::vector<Contact> contacts_;
    std::set<std::size_t> verified_;
    std::size_t next_offer_ = 0;
};

// Lost probes count as infinitely late: pass them in as +inf.
double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t idx =
        std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    return v[idx];
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description desc("kadload: UDP load on one kadnode; prints one JSON object");
    std::string target_text, kind;
    double rate = 0, seconds = 5;
    std::size_t window = 256;
    int probe_ms = 0;
    std::size_t fill = 0;
    std::size_t value_size = 100;
    desc.add_options()("help,h", "print this help")(
        "target", po::value(&target_text)->required()->value_name("ADDR:PORT"), "the node")(
        "kind", po::value(&kind)->default_value("find_node"),
        "find_node, ping, store, malformed, or mixed (malformed and find_node in turn)")(
        "rate", po::value(&rate)->default_value(0),
        "datagrams per second; 0: as fast as answered, with --window queries in flight")(
        "window", po::value(&window)->default_value(256), "queries in flight when --rate 0")(
        "seconds", po::value(&seconds)->default_value(5), "how long")(
        "probe-ms", po::value(&probe_ms)->default_value(0),
        "ping the node from another socket every this many ms and report the round trips")(
        "fill", po::value(&fill)->default_value(0),
        "first offer the node this many contacts (20 per bucket), and keep answering for them")(
        "value-size", po::value(&value_size)->default_value(value_size),
        "--kind store: bytes in each value");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
        if (kind != "find_node" && kind != "ping" && kind != "store" && kind != "malformed" &&
            kind != "mixed") {
            throw po::error("--kind: find_node, ping, store, malformed or mixed");
        }
        if (rate == 0 && (kind == "malformed" || kind == "mixed")) {
            throw po::error("--rate 0 needs queries that are answered (find_node, ping, store)");
        }
        if (seconds <= 0 || rate < 0 || window == 0)
            throw po::error("bad --seconds, --rate or --window");
        if (fill > 3200) throw po::error("--fill: at most 3200 (20 for each of 160 buckets)");
    } catch (const po::error& e) {
        std::cerr << "kadload: " << e.what() << "\n";
        return 2;
    }
    auto target = kad::Endpoint::parse(target_text);
    if (!target) {
        std::cerr << "kadload: --target " << target.error() << "\n";
        return 2;
    }

    kad::SeededRandom rng(1);
    Socket s(*target);
    std::vector<std::string> msgs;
    if (kind == "store") {
        const auto token = token_for(s);
        if (!token) {
            std::cerr
                << "kadload: --kind store: the node gives no token (no answer to find_value)\n";
            return 1;
        }
        // Well within one source's share of the node's default limits (a quarter of 100,000
        // items and of 64 MiB): beyond it, the node refuses (quota exceeded).
        const auto items = static_cast<std::uint32_t>(
            std::min<std::size_t>(20'000, (std::size_t{12} << 20) / (20 + value_size)));
        for (std::uint32_t i = 0; i < items; ++i) {
            msgs.push_back(store_query(i, *token, value_size, rng));
        }
    }
    for (std::uint32_t i = 0; i < 1024 && kind != "store"; ++i) {
        if (kind == "malformed" || (kind == "mixed" && i % 2 == 0)) {
            msgs.push_back(malformed(i));
        } else {
            msgs.push_back(query(kind == "ping" ? "ping" : "find_node", i, rng));
        }
    }

    std::atomic<bool> stop{false};
    std::unique_ptr<Filler> filler;
    std::thread fill_server;
    if (fill > 0) {
        rlimit files{};
        ::getrlimit(RLIMIT_NOFILE, &files);
        if (files.rlim_cur < fill + 64) {
            files.rlim_cur = std::min<rlim_t>(files.rlim_max, fill + 64);
            ::setrlimit(RLIMIT_NOFILE, &files);
        }
        const auto node_id = node_id_of(*target);
        if (!node_id) {
            std::cerr << "kadload: --fill: the node does not answer a ping\n";
            return 1;
        }
        filler = std::make_unique<Filler>(*target, *node_id, fill, rng);
        // Until every contact was verified, or none was for a second (at most 10 s).
        const auto fill_start = Clock::now();
        std::size_t seen = 0;
        auto progress = fill_start;
        while (filler->verified() < filler->size() &&
               Clock::now() - progress < std::chrono::seconds(1) &&
               Clock::now() - fill_start < std::chrono::seconds(10)) {
            filler->offer(16);
            filler->serve(20);
            if (filler->verified() != seen) {
                seen = filler->verified();
                progress = Clock::now();
            }
        }
        fill_server = std::thread([&] {
            while (!stop) filler->serve(20);
        });
    }
    std::vector<double> rtts;
    std::size_t probes = 0;
    std::thread prober;
    if (probe_ms > 0) {
        prober = std::thread([&] {
            Socket s(*target);
            kad::SeededRandom prng(2);
            char buf[2048];
            std::uint32_t n = 0;
            while (!stop) {
                const std::uint32_t tid = 0x70000000u + n++;
                const std::string ping = query("ping", tid, prng);
                const std::string mark =
                    "1:t4:" + std::string(reinterpret_cast<const char*>(&tid), 4);
                const auto t0 = Clock::now();
                ++probes;
                if (::send(s.fd, ping.data(), ping.size(), 0) < 0) continue;
                // Wait for this ping's answer, up to a second.
                bool answered = false;
                while (!answered) {
                    const auto left = std::chrono::seconds(1) - (Clock::now() - t0);
                    const int ms = static_cast<int>(
                        std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
                    if (ms < 0) break;
                    pollfd p{s.fd, POLLIN, 0};
                    if (::poll(&p, 1, ms + 1) <= 0) continue;
                    ssize_t r;
                    while ((r = ::recv(s.fd, buf, sizeof buf, 0)) > 0) {
                        if (::memmem(buf, static_cast<std::size_t>(r), mark.data(), mark.size())) {
                            rtts.push_back(
                                std::chrono::duration<double, std::milli>(Clock::now() - t0)
                                    .count());
                            answered = true;
                            break;
                        }
                    }
                }
                std::this_thread::sleep_until(t0 + std::chrono::milliseconds(probe_ms));
            }
        });
    }

    std::size_t sent = 0, replies = 0, errors = 0, given_up = 0, next = 0;
    const auto start = Clock::now();
    const auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto last_reply = start;
    for (auto now = start; now < end; now = Clock::now()) {
        const std::size_t got = drain(s.fd, &errors);
        replies += got;
        if (got) last_reply = now;
        std::size_t want = 0;
        if (rate > 0) {
            const double elapsed = std::chrono::duration<double>(now - start).count();
            const auto due = static_cast<std::size_t>(elapsed * rate);
            want = due > sent ? std::min<std::size_t>(due - sent, 1024) : 0;
        } else {
            // Queries lost (or dropped by the node) would close the window: after 100 ms of
            // silence, count them gone (not answered).
            if (now - last_reply > std::chrono::milliseconds(100)) {
                given_up = sent - std::min(sent, replies);
                last_reply = now;
            }
            const std::size_t in_flight = sent - std::min(sent, replies + given_up);
            want = in_flight < window ? window - in_flight : 0;
        }
        if (want) {
            sent += send_batch(s.fd, msgs, next, want);
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(rate > 0 ? 100 : 5));
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::size_t late = drain(s.fd, &errors);
    stop = true;
    if (prober.joinable()) prober.join();
    if (fill_server.joinable()) fill_server.join();
    const double took = std::chrono::duration<double>(Clock::now() - start).count() - 0.1;

    std::printf(
        "{\"kind\":\"%s\",\"seconds\":%.3f,\"sent\":%zu,\"send_rate\":%.0f,\"replies\":%zu,"
        "\"reply_rate\":%.0f",
        kind.c_str(), took, sent, static_cast<double>(sent) / took, replies + late,
        static_cast<double>(replies + late) / took);
    if (kind == "store") std::printf(",\"errors\":%zu", errors);
    if (fill > 0) std::printf(",\"fill\":%zu,\"fill_verified\":%zu", fill, filler->verified());
    if (probe_ms > 0) {
        std::vector<double> with_lost = rtts;
        with_lost.resize(probes, 1e9);  // a probe never answered: later than any bound
        std::printf(
            ",\"probes\":%zu,\"probes_answered\":%zu,\"probe_p50_ms\":%.3f,\"probe_p99_ms\":%.3f,"
            "\"probe_max_ms\":%.3f",
            probes, rtts.size(), percentile(with_lost, 0.5), percentile(with_lost, 0.99),
            percentile(with_lost, 1.0));
    }
    std::printf("}\n");
    return 0;
}
