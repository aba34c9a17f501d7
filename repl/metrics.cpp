#include "metrics.hpp"

#include <map>

#include "kad/client_versions.hpp"

namespace kadnode {

namespace {

// Builds the list: each metric with the section `stats` shows it in.
class Collector {
public:
    void add(std::string_view section, std::string name, std::string help, bool counter,
             std::uint64_t v) {
        out_.push_back({std::move(name), std::move(help), counter, {}, {{"", v}}, section});
    }
    void add_labelled(std::string_view section, std::string name, std::string help, bool counter,
                      std::string label,
                      std::vector<std::pair<std::string, std::uint64_t>> values) {
        out_.push_back({std::move(name), std::move(help), counter, std::move(label),
                        std::move(values), section});
    }
    std::vector<Metric> take() { return std::move(out_); }

private:
    std::vector<Metric> out_;
};

// Traffic and what the node made of it (the KRPC layer).
void traffic_and_rpc(Collector& c, const kad::AsioNode& node) {
    const auto& s = node.node().stats();
    c.add("traffic", "packets_in", "Datagrams received", true,
          static_cast<std::uint64_t>(s.packets_in));
    c.add("traffic", "packets_out", "Datagrams sent", true,
          static_cast<std::uint64_t>(s.packets_out));
    c.add("traffic", "bytes_in", "Bytes received in datagrams", true,
          static_cast<std::uint64_t>(s.bytes_in));
    c.add("traffic", "bytes_out", "Bytes sent in datagrams", true,
          static_cast<std::uint64_t>(s.bytes_out));
    c.add("rpc", "responses_in", "KRPC responses received", true,
          static_cast<std::uint64_t>(s.responses_in));
    c.add("rpc", "errors_in", "KRPC errors received", true,
          static_cast<std::uint64_t>(s.errors_in));
    c.add("rpc", "responses_out", "KRPC responses sent", true,
          static_cast<std::uint64_t>(s.responses_out));
    c.add("rpc", "errors_out", "KRPC errors sent", true, static_cast<std::uint64_t>(s.errors_out));
    c.add("rpc", "malformed_dropped", "Undecodable datagrams, dropped unanswered", true,
          static_cast<std::uint64_t>(s.malformed_dropped));
    c.add("rpc", "bad_queries", "Queries answered 203 (bad arguments)", true,
          static_cast<std::uint64_t>(s.bad_queries));
    c.add("rpc", "unknown_methods", "Queries answered 204 (unknown method)", true,
          static_cast<std::uint64_t>(s.unknown_methods));
    c.add("rpc", "unusable_source",
          "Datagrams from port 0, multicast, broadcast or unspecified addresses", true,
          static_cast<std::uint64_t>(s.unusable_source));
    c.add("rpc", "unmatched_replies", "Replies with an unknown transaction ID", true,
          static_cast<std::uint64_t>(s.unmatched_replies));
    c.add("rpc", "wrong_endpoint", "Replies with a known transaction ID from another endpoint",
          true, static_cast<std::uint64_t>(s.wrong_endpoint));
    c.add("rpc", "wrong_id", "Replies from the right endpoint with another node ID", true,
          static_cast<std::uint64_t>(s.wrong_id));
    c.add("rpc", "bad_responses", "Responses missing what their method needs", true,
          static_cast<std::uint64_t>(s.bad_responses));
    c.add("rpc", "soft_timeouts", "Queries past their soft timeout (RTT-based)", true,
          static_cast<std::uint64_t>(s.soft_timeouts));
    c.add("rpc", "hard_timeouts", "Queries that failed at the hard timeout", true,
          static_cast<std::uint64_t>(s.hard_timeouts));
    c.add("rpc", "late_answers",
          "Answers to queries past their soft timeout (second-port probes aside)", true,
          static_cast<std::uint64_t>(s.late_answers));
}

// Stores, BEP 44 puts, BEP 5 swarms.
void store_and_swarms(Collector& c, const kad::AsioNode& node) {
    const auto& s = node.node().stats();
    c.add("store", "stores_accepted", "store queries accepted", true,
          static_cast<std::uint64_t>(s.stores_accepted));
    c.add("store", "stores_refused", "store queries refused", true,
          static_cast<std::uint64_t>(s.stores_refused));
    c.add("limits", "stores_full", "Stores refused: the store is full (items or bytes)", true,
          static_cast<std::uint64_t>(s.stores_full));
    c.add("limits", "stores_over_quota", "Stores refused: the source holds its share", true,
          static_cast<std::uint64_t>(s.stores_over_quota));
    c.add("limits", "stores_over_budget",
          "Stores refused: the answer would exceed the reply budget", true,
          static_cast<std::uint64_t>(s.stores_over_budget));
    c.add("limits", "items_evicted", "Items removed to make room for another source's", true,
          static_cast<std::uint64_t>(node.node().storage().evicted()));
    c.add("store", "puts_accepted", "BEP 44 puts accepted", true,
          static_cast<std::uint64_t>(s.puts_accepted));
    c.add("store", "puts_refused", "BEP 44 puts refused", true,
          static_cast<std::uint64_t>(s.puts_refused));
    c.add("store", "bad_items", "Answers with an item for another key, too large, or forged", true,
          static_cast<std::uint64_t>(s.bad_items));
    c.add("swarms", "samples_sent", "BEP 51 sample_infohashes answers sent", true,
          static_cast<std::uint64_t>(s.samples_sent));
    c.add("rpc", "read_only_queries",
          "BEP 43: queries from read-only nodes, answered, asker kept out of the table", true,
          static_cast<std::uint64_t>(s.read_only_queries));
    c.add("rpc", "queries_ignored",
          "BEP 43: queries left unanswered because this node is read-only", true,
          static_cast<std::uint64_t>(s.queries_ignored));
    c.add("swarms", "announces_accepted", "BEP 5 announce_peer queries accepted", true,
          static_cast<std::uint64_t>(s.announces_accepted));
    c.add("swarms", "announces_refused", "BEP 5 announce_peer queries refused", true,
          static_cast<std::uint64_t>(s.announces_refused));
    c.add("limits", "announces_dropped", "Announces accepted while the peer store dropped another",
          true, static_cast<std::uint64_t>(s.announces_dropped));
    c.add("swarms", "swarms", "BEP 5 swarms (info-hashes) held", false,
          static_cast<std::uint64_t>(node.node().peer_store().swarms()));
    c.add("swarms", "swarm_peers", "BEP 5 peers held, over all swarms", false,
          static_cast<std::uint64_t>(node.node().peer_store().size()));
}

// Lookups, and watches both ways (ours, and watchers listening here).
void lookups_and_watches(Collector& c, const kad::AsioNode& node) {
    const auto& s = node.node().stats();
    c.add("limits", "transactions_full", "Queries not sent: too many outstanding", true,
          static_cast<std::uint64_t>(s.transactions_full));
    c.add("lookups", "lookups_started", "Iterative lookups started", true,
          static_cast<std::uint64_t>(s.lookups_started));
    c.add("lookups", "lookups_done", "Iterative lookups finished", true,
          static_cast<std::uint64_t>(s.lookups_done));
    c.add("limits", "lookups_refused", "Lookups refused: too many running", true,
          static_cast<std::uint64_t>(s.lookups_refused));
    c.add("limits", "lookup_candidates_dropped", "Lookup candidates past the candidate bound", true,
          static_cast<std::uint64_t>(s.lookup_candidates_dropped));
    c.add("routing", "maintenance_pings", "Pings the routing table asked for", true,
          static_cast<std::uint64_t>(s.maintenance_pings));
    c.add("limits", "maintenance_pings_skipped",
          "Pings the routing table asked for but skipped (bound reached)", true,
          static_cast<std::uint64_t>(s.maintenance_pings_skipped));
    c.add("lookups", "values_cached",
          "Values cached at the nearest node that lacked them after a get", true,
          static_cast<std::uint64_t>(s.values_cached));
    c.add("watch", "watches", "Keys this node watches", false,
          static_cast<std::uint64_t>(node.node().watches().size()));
    c.add("watch", "watch_rounds",
          "Watch rounds: a lookup of the key and listens at its nearest holders", true,
          static_cast<std::uint64_t>(s.watch_rounds));
    c.add("watch", "listens_sent", "Listens our watches sent to holders", true,
          static_cast<std::uint64_t>(s.listens_sent));
    c.add("watch", "listens_held", "Listens our watches sent that a holder took", true,
          static_cast<std::uint64_t>(s.listens_held));
    c.add("watch", "notifies_received", "New versions holders told our watches of", true,
          static_cast<std::uint64_t>(s.notifies_received));
    c.add("watch", "notifies_rejected",
          "Notifies refused: no watch of ours listens there for that key", true,
          static_cast<std::uint64_t>(s.notifies_rejected));
    c.add("watch", "listeners", "Watchers listening here for new versions", false,
          static_cast<std::uint64_t>(node.node().listeners().size()));
    c.add("watch", "listens_accepted", "Listens from watchers taken or renewed here", true,
          static_cast<std::uint64_t>(s.listens_accepted));
    c.add("watch", "listens_refused",
          "Listens from watchers refused (bad token, too many listeners)", true,
          static_cast<std::uint64_t>(s.listens_refused));
    c.add("watch", "notifies_sent", "New versions stored here, told to the watchers listening",
          true, static_cast<std::uint64_t>(s.notifies_sent));
    c.add("watch", "notifies_refused",
          "Notifies a watcher refused (it no longer watches; it was dropped)", true,
          static_cast<std::uint64_t>(s.notifies_refused));
    c.add("watch", "notifies_unanswered", "Notifies no watcher answered (it was dropped)", true,
          static_cast<std::uint64_t>(s.notifies_unanswered));
    c.add("limits", "notifies_skipped", "New versions not told: too many notifies were unanswered",
          true, static_cast<std::uint64_t>(s.notifies_skipped));
}

// Republishing, hand-offs and the routing table (BEP 42 among it).
void upkeep_and_routing(Collector& c, const kad::AsioNode& node) {
    const auto& s = node.node().stats();
    const auto census = node.node().routing_table().id_census();  // BEP 42
    c.add("store", "republished", "Items this node republished as a holder", true,
          static_cast<std::uint64_t>(s.republished));
    c.add("store", "republish_stores", "Stores made by republishing", true,
          static_cast<std::uint64_t>(s.republish_stores));
    c.add("limits", "republishes_deferred",
          "Republishes due while the bound of running ones was reached", true,
          static_cast<std::uint64_t>(s.republishes_deferred));
    c.add("store", "refreshed_originals", "Values this node published and refreshed", true,
          static_cast<std::uint64_t>(s.refreshed_originals));
    c.add("store", "items_refreshed", "BEP 44 items this node put and put again", true,
          static_cast<std::uint64_t>(s.items_refreshed));
    c.add("store", "items_superseded",
          "BEP 44 items of ours no longer kept alive: a newer version was found", true,
          static_cast<std::uint64_t>(s.items_superseded));
    c.add("store", "values_superseded",
          "Values of ours replaced here by another writer's newer version", true,
          static_cast<std::uint64_t>(s.values_superseded));
    c.add("store", "handoffs", "Hand-offs of items to a new contact among their k nearest", true,
          static_cast<std::uint64_t>(s.handoffs));
    c.add("store", "handoff_stores", "Stores made by hand-offs", true,
          static_cast<std::uint64_t>(s.handoff_stores));
    c.add("limits", "handoffs_skipped", "Hand-offs skipped (bound reached)", true,
          static_cast<std::uint64_t>(s.handoffs_skipped));
    c.add("routing", "bucket_refreshes", "Routing-table buckets refreshed by a lookup", true,
          static_cast<std::uint64_t>(s.bucket_refreshes));
    c.add("routing", "early_refreshes",
          "Bucket refreshes started early: a cut-off contact answered again", true,
          static_cast<std::uint64_t>(s.early_refreshes));
    c.add("routing", "rechecks", "Pings to failing contacts, to see whether they are back", true,
          static_cast<std::uint64_t>(s.rechecks));
    c.add("routing", "reach_probes", "Verification pings sent from the second port", true,
          static_cast<std::uint64_t>(s.reach_probes));
    c.add("routing", "reach_probes_unanswered",
          "Verification pings from the second port left unanswered (mostly nodes behind NAT)", true,
          static_cast<std::uint64_t>(s.reach_probes_unanswered));
    c.add("rpc", "probe_port_queries", "Queries to the second port, dropped unanswered", true,
          static_cast<std::uint64_t>(s.probe_port_queries));
    c.add("routing", "reach_probes_skipped",
          "Queriers not probed again: their last probe went unanswered (within 15 minutes)", true,
          static_cast<std::uint64_t>(node.node().routing_table().probes_skipped()));
    c.add("limits", "seen_seq_evicted", "Keys whose highest seen seq was forgotten to make room",
          true, static_cast<std::uint64_t>(s.seen_seq_evicted));
    c.add("limits", "contacts_address_limited",
          "Contacts turned away by the per-IP and per-subnet limits", true,
          static_cast<std::uint64_t>(node.node().routing_table().address_limited()));
    c.add("limits", "replacements_dropped", "Replacement-cache entries dropped: the cache was full",
          true, static_cast<std::uint64_t>(node.node().routing_table().replacements_dropped()));
    c.add("routing", "bep42_conforming", "BEP 42: contacts whose ID matches their address", false,
          static_cast<std::uint64_t>(census.conforming));
    c.add("routing", "bep42_nonconforming",
          "BEP 42: contacts whose ID does not match their address", false,
          static_cast<std::uint64_t>(census.nonconforming));
    c.add("routing", "bep42_exempt", "BEP 42: contacts at local addresses, exempt", false,
          static_cast<std::uint64_t>(census.exempt));
    c.add("routing", "bep42_refused",
          "BEP 42: answers and queries from nonconforming IDs turned away", true,
          static_cast<std::uint64_t>(node.node().routing_table().ids_refused()));
    c.add("routing", "bep42_displaced",
          "BEP 42: nonconforming contacts that gave way to a conforming newcomer", true,
          static_cast<std::uint64_t>(node.node().routing_table().ids_displaced()));
    c.add("routing", "id_changes", "BEP 42: times this node took an ID matching its address", true,
          static_cast<std::uint64_t>(s.id_changes));
    c.add("routing", "foreign_nodes", "Nodes known not to speak kadnode's find_value and store",
          false, static_cast<std::uint64_t>(node.node().foreign_nodes().size()));
}

// The rate limiter, the sockets, LAN discovery.
void limits_and_sockets(Collector& c, const kad::AsioNode& node) {
    const kad::RuntimeStats rs = node.runtime_stats();
    const auto& rl = node.node().rate_limiter().stats();
    c.add("limits", "rate_dropped_source", "Datagrams dropped past their source's rate", true,
          static_cast<std::uint64_t>(rl.dropped_source));
    c.add("limits", "rate_dropped_global", "Datagrams dropped past the global rate", true,
          static_cast<std::uint64_t>(rl.dropped_global));
    c.add("limits", "rate_dropped_ignored", "Datagrams dropped from a source being ignored", true,
          static_cast<std::uint64_t>(rl.dropped_ignored));
    c.add("limits", "rate_sources_ignored", "Times a source was put on ignore", true,
          static_cast<std::uint64_t>(rl.sources_ignored));
    c.add("limits", "rate_sources_full", "New sources not tracked: the table was full", true,
          static_cast<std::uint64_t>(rl.sources_full));
    c.add("traffic", "send_errors", "Datagrams the socket refused (buffer full, no route)", true,
          static_cast<std::uint64_t>(rs.send_errors));
    c.add("traffic", "unsendable", "Datagrams to a family the socket cannot send to", true,
          static_cast<std::uint64_t>(rs.unsendable));
    c.add("traffic", "receive_errors", "Errors receiving datagrams", true,
          static_cast<std::uint64_t>(rs.receive_errors));
    c.add("traffic", "truncated", "Datagrams larger than the receive buffer", true,
          static_cast<std::uint64_t>(rs.truncated));
    c.add("traffic", "receive_overflows",
          "Datagrams the system dropped: the receive queue was full (the node fell behind)", true,
          static_cast<std::uint64_t>(rs.receive_overflows));
    if (const kad::Discovery* d = node.discovery()) {
        const auto& ds = d->stats();
        c.add("lan", "lan_received", "LAN discovery: datagrams received", true,
              static_cast<std::uint64_t>(ds.received));
        c.add("lan", "lan_announcements_in", "LAN discovery: announcements received", true,
              static_cast<std::uint64_t>(ds.announcements_in));
        c.add("lan", "lan_announcements_out", "LAN discovery: announcements sent", true,
              static_cast<std::uint64_t>(ds.announcements_out));
        c.add("lan", "lan_solicitations_in", "LAN discovery: solicitations received", true,
              static_cast<std::uint64_t>(ds.solicitations_in));
        c.add("lan", "lan_leaves_in", "LAN discovery: leave messages received", true,
              static_cast<std::uint64_t>(ds.leaves_in));
        c.add("lan", "lan_replies_suppressed", "LAN discovery: replies left to another node", true,
              static_cast<std::uint64_t>(ds.replies_suppressed));
        c.add("lan", "lan_malformed", "LAN discovery: malformed datagrams", true,
              static_cast<std::uint64_t>(ds.malformed));
        c.add("lan", "lan_other_network", "LAN discovery: datagrams of another network", true,
              static_cast<std::uint64_t>(ds.other_network));
        c.add("lan", "lan_unsigned_dropped",
              "LAN discovery: unsigned datagrams dropped while a key is set", true,
              static_cast<std::uint64_t>(ds.unsigned_dropped));
        c.add("lan", "lan_bad_signature", "LAN discovery: datagrams with a bad signature", true,
              static_cast<std::uint64_t>(ds.bad_signature));
        c.add("lan", "lan_keyed_dropped",
              "LAN discovery: signed datagrams dropped while no key is set", true,
              static_cast<std::uint64_t>(ds.keyed_dropped));
        c.add("lan", "lan_pings", "LAN discovery: pings of discovered peers", true,
              static_cast<std::uint64_t>(ds.pings));
        c.add("lan", "lan_pings_failed", "LAN discovery: pings that failed", true,
              static_cast<std::uint64_t>(ds.pings_failed));
        c.add("lan", "lan_pings_skipped", "LAN discovery: pings skipped (budget or table full)",
              true, static_cast<std::uint64_t>(ds.pings_skipped));
        c.add("lan", "lan_peers_joined", "LAN discovery: peers that joined the view", true,
              static_cast<std::uint64_t>(ds.peers_joined));
        c.add("lan", "lan_peers_left", "LAN discovery: peers that left the view", true,
              static_cast<std::uint64_t>(ds.peers_left));
    }
}

// The metrics with a dimension: by method, hops, client, kind held.
void labelled(Collector& c, const kad::AsioNode& node) {
    const auto& s = node.node().stats();
    auto by_method = [](const std::array<std::uint64_t, kad::krpc::kMethods>& v) {
        std::vector<std::pair<std::string, std::uint64_t>> values;
        for (std::size_t m = 0; m < v.size(); ++m) {
            values.emplace_back(kad::krpc::method_name(static_cast<kad::krpc::Method>(m)),
                                static_cast<std::uint64_t>(v[m]));
        }
        return values;
    };
    c.add_labelled("traffic", "queries_in", "Queries received, by method", true, "method",
                   by_method(s.queries_in));
    c.add_labelled("traffic", "queries_out", "Queries sent, by method", true, "method",
                   by_method(s.queries_out));
    std::vector<std::pair<std::string, std::uint64_t>> hops;
    for (std::size_t i = 0; i < s.lookup_hops.size(); ++i) {
        if (s.lookup_hops[i]) hops.emplace_back(std::to_string(i), s.lookup_hops[i]);
    }
    c.add_labelled("lookups", "lookup_hops", "Lookups finished, by hops (15: 15 or more)", true,
                   "hops", std::move(hops));
    // The implementations in the routing table, by their "v".
    std::map<std::string, std::size_t> clients;
    for (const kad::Contact* contact : node.node().routing_table().all()) {
        ++clients[kad::describe_client(node.node().client_versions().of(contact->id))];
    }
    std::vector<std::pair<std::string, std::uint64_t>> by_client;
    by_client.reserve(clients.size());
    for (const auto& [name, n] : clients) {
        by_client.emplace_back(name, static_cast<std::uint64_t>(n));
    }
    c.add_labelled("routing", "clients", "Routing-table contacts, by implementation (their \"v\")",
                   false, "client", std::move(by_client));
    // What the node holds against its bounds (kad::Node::footprint).
    std::vector<std::pair<std::string, std::uint64_t>> held, bounds;
    for (const auto& h : node.node().footprint()) {
        held.emplace_back(std::string(h.what), static_cast<std::uint64_t>(h.count));
        bounds.emplace_back(std::string(h.what), static_cast<std::uint64_t>(h.bound));
    }
    c.add_labelled("limits", "held", "What the node holds, by kind", false, "what",
                   std::move(held));
    c.add_labelled("limits", "held_bound", "The bound its configuration sets on each kind held",
                   false, "what", std::move(bounds));
}

}  // namespace

std::vector<Metric> collect_metrics(const kad::AsioNode& node) {
    Collector c;
    traffic_and_rpc(c, node);
    store_and_swarms(c, node);
    lookups_and_watches(c, node);
    upkeep_and_routing(c, node);
    limits_and_sockets(c, node);
    labelled(c, node);
    return c.take();
}

const std::vector<std::string_view>& stats_sections() {
    static const std::vector<std::string_view> kSections = {
        "traffic", "rpc", "lookups", "store", "watch", "swarms", "routing", "limits", "lan"};
    return kSections;
}

namespace {

// A label value in the text format: backslash, double quote and newline escaped.
std::string label_value(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string prometheus_text(const std::vector<Metric>& metrics) {
    std::string out;
    for (const Metric& m : metrics) {
        const std::string name = "kadnode_" + m.name + (m.counter ? "_total" : "");
        out += "# HELP " + name + " " + m.help + "\n";
        out += "# TYPE " + name + (m.counter ? " counter\n" : " gauge\n");
        for (const auto& [label, v] : m.values) {
            out += name;
            if (!m.label.empty()) out += "{" + m.label + "=\"" + label_value(label) + "\"}";
            out += " " + std::to_string(v) + "\n";
        }
    }
    return out;
}

}  // namespace kadnode
