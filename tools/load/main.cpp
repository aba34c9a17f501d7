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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/krpc.hpp"
#include "kad/random.hpp"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

struct Socket {
    int fd = -1;
    explicit Socket(const kad::Endpoint& target) {
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
        if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        }
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

// Reads every datagram waiting; returns how many.
std::size_t drain(int fd) {
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
        got += static_cast<std::size_t>(r);
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
    desc.add_options()("help,h", "print this help")(
        "target", po::value(&target_text)->required()->value_name("ADDR:PORT"), "the node")(
        "kind", po::value(&kind)->default_value("find_node"),
        "find_node, ping, malformed, or mixed (malformed and find_node in turn)")(
        "rate", po::value(&rate)->default_value(0),
        "datagrams per second; 0: as fast as answered, with --window queries in flight")(
        "window", po::value(&window)->default_value(256), "queries in flight when --rate 0")(
        "seconds", po::value(&seconds)->default_value(5), "how long")(
        "probe-ms", po::value(&probe_ms)->default_value(0),
        "ping the node from another socket every this many ms and report the round trips");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
        if (kind != "find_node" && kind != "ping" && kind != "malformed" && kind != "mixed") {
            throw po::error("--kind: find_node, ping, malformed or mixed");
        }
        if (rate == 0 && (kind == "malformed" || kind == "mixed")) {
            throw po::error("--rate 0 needs queries that are answered (find_node or ping)");
        }
        if (seconds <= 0 || rate < 0 || window == 0)
            throw po::error("bad --seconds, --rate or --window");
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
    std::vector<std::string> msgs;
    for (std::uint32_t i = 0; i < 1024; ++i) {
        if (kind == "malformed" || (kind == "mixed" && i % 2 == 0)) {
            msgs.push_back(malformed(i));
        } else {
            msgs.push_back(query(kind == "ping" ? "ping" : "find_node", i, rng));
        }
    }

    std::atomic<bool> stop{false};
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

    Socket s(*target);
    std::size_t sent = 0, replies = 0, next = 0;
    const auto start = Clock::now();
    const auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto last_reply = start;
    for (auto now = start; now < end; now = Clock::now()) {
        const std::size_t got = drain(s.fd);
        replies += got;
        if (got) last_reply = now;
        std::size_t want = 0;
        if (rate > 0) {
            const double elapsed = std::chrono::duration<double>(now - start).count();
            const auto due = static_cast<std::size_t>(elapsed * rate);
            want = due > sent ? std::min<std::size_t>(due - sent, 1024) : 0;
        } else {
            // Queries lost (or dropped by the node) would close the window: after 100 ms of
            // silence, count them gone.
            if (now - last_reply > std::chrono::milliseconds(100)) {
                replies = sent;
                last_reply = now;
            }
            const std::size_t in_flight = sent - std::min(sent, replies);
            want = in_flight < window ? window - in_flight : 0;
        }
        if (want) {
            sent += send_batch(s.fd, msgs, next, want);
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(rate > 0 ? 100 : 5));
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::size_t late = drain(s.fd);
    stop = true;
    if (prober.joinable()) prober.join();
    const double took = std::chrono::duration<double>(Clock::now() - start).count() - 0.1;

    std::printf(
        "{\"kind\":\"%s\",\"seconds\":%.3f,\"sent\":%zu,\"send_rate\":%.0f,\"replies\":%zu,"
        "\"reply_rate\":%.0f",
        kind.c_str(), took, sent, static_cast<double>(sent) / took, replies + late,
        static_cast<double>(replies + late) / took);
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
