#include "metrics.hpp"

#include <map>

#include "kad/client_versions.hpp"

namespace kadnode {

std::vector<Metric> collect_metrics(const kad::AsioNode& node) {
    std::vector<Metric> out;
    auto add = [&](std::string name, std::string help, bool counter, std::uint64_t v) {
        out.push_back({std::move(name), std::move(help), counter, {}, {{"", v}}});
    };
    auto add_labelled = [&](std::string name, std::string help, bool counter, std::string label,
                            std::vector<std::pair<std::string, std::uint64_t>> values) {
        out.push_back(
            {std::move(name), std::move(help), counter, std::move(label), std::move(values)});
    };
    const auto& s = node.node().stats();
    const kad::RuntimeStats rs = node.runtime_stats();
    const auto& rl = node.node().rate_limiter().stats();
    const auto census = node.node().routing_table().id_census();  // BEP 42
    add("packets_in", "Datagrams received", true, static_cast<std::uint64_t>(s.packets_in));
    add("packets_out", "Datagrams sent", true, static_cast<std::uint64_t>(s.packets_out));
    add("bytes_in", "Bytes received in datagrams", true, static_cast<std::uint64_t>(s.bytes_in));
    add("bytes_out", "Bytes sent in datagrams", true, static_cast<std::uint64_t>(s.bytes_out));
    add("responses_in", "KRPC responses received", true,
        static_cast<std::uint64_t>(s.responses_in));
    add("errors_in", "KRPC errors received", true, static_cast<std::uint64_t>(s.errors_in));
    add("responses_out", "KRPC responses sent", true, static_cast<std::uint64_t>(s.responses_out));
    add("errors_out", "KRPC errors sent", true, static_cast<std::uint64_t>(s.errors_out));
    add("malformed_dropped", "Undecodable datagrams, dropped unanswered", true,
        static_cast<std::uint64_t>(s.malformed_dropped));
    add("bad_queries", "Queries answered 203 (bad arguments)", true,
        static_cast<std::uint64_t>(s.bad_queries));
    add("unknown_methods", "Queries answered 204 (unknown method)", true,
        static_cast<std::uint64_t>(s.unknown_methods));
    add("unusable_source", "Datagrams from port 0, multicast, broadcast or unspecified addresses",
        true, static_cast<std::uint64_t>(s.unusable_source));
    add("unmatched_replies", "Replies with an unknown transaction ID", true,
        static_cast<std::uint64_t>(s.unmatched_replies));
    add("wrong_endpoint", "Replies with a known transaction ID from another endpoint", true,
        static_cast<std::uint64_t>(s.wrong_endpoint));
    add("wrong_id", "Replies from the right endpoint with another node ID", true,
        static_cast<std::uint64_t>(s.wrong_id));
    add("bad_responses", "Responses missing what their method needs", true,
        static_cast<std::uint64_t>(s.bad_responses));
    add("soft_timeouts", "Queries past their soft timeout (RTT-based)", true,
        static_cast<std::uint64_t>(s.soft_timeouts));
    add("hard_timeouts", "Queries that failed at the hard timeout", true,
        static_cast<std::uint64_t>(s.hard_timeouts));
    add("late_answers", "Answers to queries past their soft timeout (second-port probes aside)",
        true, static_cast<std::uint64_t>(s.late_answers));
    add("stores_accepted", "store queries accepted", true,
        static_cast<std::uint64_t>(s.stores_accepted));
    add("stores_refused", "store queries refused", true,
        static_cast<std::uint64_t>(s.stores_refused));
    add("stores_full", "Stores refused: the store is full (items or bytes)", true,
        static_cast<std::uint64_t>(s.stores_full));
    add("stores_over_quota", "Stores refused: the source holds its share", true,
        static_cast<std::uint64_t>(s.stores_over_quota));
    add("stores_over_budget", "Stores refused: the answer would exceed the reply budget", true,
        static_cast<std::uint64_t>(s.stores_over_budget));
    add("items_evicted", "Items removed to make room for another source's", true,
        static_cast<std::uint64_t>(node.node().storage().evicted()));
    add("puts_accepted", "BEP 44 puts accepted", true, static_cast<std::uint64_t>(s.puts_accepted));
    add("puts_refused", "BEP 44 puts refused", true, static_cast<std::uint64_t>(s.puts_refused));
    add("bad_items", "Answers with an item for another key, too large, or forged", true,
        static_cast<std::uint64_t>(s.bad_items));
    add("samples_sent", "BEP 51 sample_infohashes answers sent", true,
        static_cast<std::uint64_t>(s.samples_sent));
    add("read_only_queries",
        "BEP 43: queries from read-only nodes, answered, asker kept out of the table", true,
        static_cast<std::uint64_t>(s.read_only_queries));
    add("queries_ignored", "BEP 43: queries left unanswered because this node is read-only", true,
        static_cast<std::uint64_t>(s.queries_ignored));
    add("announces_accepted", "BEP 5 announce_peer queries accepted", true,
        static_cast<std::uint64_t>(s.announces_accepted));
    add("announces_refused", "BEP 5 announce_peer queries refused", true,
        static_cast<std::uint64_t>(s.announces_refused));
    add("announces_dropped", "Announces accepted while the peer store dropped another", true,
        static_cast<std::uint64_t>(s.announces_dropped));
    add("swarms", "BEP 5 swarms (info-hashes) held", false,
        static_cast<std::uint64_t>(node.node().peer_store().swarms()));
    add("swarm_peers", "BEP 5 peers held, over all swarms", false,
        static_cast<std::uint64_t>(node.node().peer_store().size()));
    add("transactions_full", "Queries not sent: too many outstanding", true,
        static_cast<std::uint64_t>(s.transactions_full));
    add("lookups_started", "Iterative lookups started", true,
        static_cast<std::uint64_t>(s.lookups_started));
    add("lookups_done", "Iterative lookups finished", true,
        static_cast<std::uint64_t>(s.lookups_done));
    add("lookups_refused", "Lookups refused: too many running", true,
        static_cast<std::uint64_t>(s.lookups_refused));
    add("lookup_candidates_dropped", "Lookup candidates past the candidate bound", true,
        static_cast<std::uint64_t>(s.lookup_candidates_dropped));
    add("maintenance_pings", "Pings the routing table asked for", true,
        static_cast<std::uint64_t>(s.maintenance_pings));
    add("maintenance_pings_skipped",
        "Pings the routing table asked for but skipped (bound reached)", true,
        static_cast<std::uint64_t>(s.maintenance_pings_skipped));
    add("values_cached", "Values cached at the nearest node that lacked them after a get", true,
        static_cast<std::uint64_t>(s.values_cached));
    add("watches", "Keys this node watches", false,
        static_cast<std::uint64_t>(node.node().watches().size()));
    add("watch_rounds", "Watch rounds: a lookup of the key and listens at its nearest holders",
        true, static_cast<std::uint64_t>(s.watch_rounds));
    add("listens_sent", "Listens our watches sent to holders", true,
        static_cast<std::uint64_t>(s.listens_sent));
    add("listens_held", "Listens our watches sent that a holder took", true,
        static_cast<std::uint64_t>(s.listens_held));
    add("notifies_received", "New versions holders told our watches of", true,
        static_cast<std::uint64_t>(s.notifies_received));
    add("notifies_rejected", "Notifies refused: no watch of ours listens there for that key", true,
        static_cast<std::uint64_t>(s.notifies_rejected));
    add("listeners", "Watchers listening here for new versions", false,
        static_cast<std::uint64_t>(node.node().listeners().size()));
    add("listens_accepted", "Listens from watchers taken or renewed here", true,
        static_cast<std::uint64_t>(s.listens_accepted));
    add("listens_refused", "Listens from watchers refused (bad token, too many listeners)", true,
        static_cast<std::uint64_t>(s.listens_refused));
    add("notifies_sent", "New versions stored here, told to the watchers listening", true,
        static_cast<std::uint64_t>(s.notifies_sent));
    add("notifies_refused", "Notifies a watcher refused (it no longer watches; it was dropped)",
        true, static_cast<std::uint64_t>(s.notifies_refused));
    add("notifies_unanswered", "Notifies no watcher answered (it was dropped)", true,
        static_cast<std::uint64_t>(s.notifies_unanswered));
    add("notifies_skipped", "New versions not told: too many notifies were unanswered", true,
        static_cast<std::uint64_t>(s.notifies_skipped));
    add("republished", "Items this node republished as a holder", true,
        static_cast<std::uint64_t>(s.republished));
    add("republish_stores", "Stores made by republishing", true,
        static_cast<std::uint64_t>(s.republish_stores));
    add("republishes_deferred", "Republishes due while the bound of running ones was reached", true,
        static_cast<std::uint64_t>(s.republishes_deferred));
    add("refreshed_originals", "Values this node published and refreshed", true,
        static_cast<std::uint64_t>(s.refreshed_originals));
    add("items_refreshed", "BEP 44 items this node put and put again", true,
        static_cast<std::uint64_t>(s.items_refreshed));
    add("items_superseded", "BEP 44 items of ours no longer kept alive: a newer version was found",
        true, static_cast<std::uint64_t>(s.items_superseded));
    add("values_superseded", "Values of ours replaced here by another writer's newer version", true,
        static_cast<std::uint64_t>(s.values_superseded));
    add("handoffs", "Hand-offs of items to a new contact among their k nearest", true,
        static_cast<std::uint64_t>(s.handoffs));
    add("handoff_stores", "Stores made by hand-offs", true,
        static_cast<std::uint64_t>(s.handoff_stores));
    add("handoffs_skipped", "Hand-offs skipped (bound reached)", true,
        static_cast<std::uint64_t>(s.handoffs_skipped));
    add("bucket_refreshes", "Routing-table buckets refreshed by a lookup", true,
        static_cast<std::uint64_t>(s.bucket_refreshes));
    add("early_refreshes", "Bucket refreshes started early: a cut-off contact answered again", true,
        static_cast<std::uint64_t>(s.early_refreshes));
    add("rechecks", "Pings to failing contacts, to see whether they are back", true,
        static_cast<std::uint64_t>(s.rechecks));
    add("reach_probes", "Verification pings sent from the second port", true,
        static_cast<std::uint64_t>(s.reach_probes));
    add("reach_probes_unanswered",
        "Verification pings from the second port left unanswered (mostly nodes behind NAT)", true,
        static_cast<std::uint64_t>(s.reach_probes_unanswered));
    add("probe_port_queries", "Queries to the second port, dropped unanswered", true,
        static_cast<std::uint64_t>(s.probe_port_queries));
    add("reach_probes_skipped",
        "Queriers not probed again: their last probe went unanswered (within 15 minutes)", true,
        static_cast<std::uint64_t>(node.node().routing_table().probes_skipped()));
    add("seen_seq_evicted", "Keys whose highest seen seq was forgotten to make room", true,
        static_cast<std::uint64_t>(s.seen_seq_evicted));
    add("contacts_address_limited", "Contacts turned away by the per-IP and per-subnet limits",
        true, static_cast<std::uint64_t>(node.node().routing_table().address_limited()));
    add("replacements_dropped", "Replacement-cache entries dropped: the cache was full", true,
        static_cast<std::uint64_t>(node.node().routing_table().replacements_dropped()));
    add("bep42_conforming", "BEP 42: contacts whose ID matches their address", false,
        static_cast<std::uint64_t>(census.conforming));
    add("bep42_nonconforming", "BEP 42: contacts whose ID does not match their address", false,
        static_cast<std::uint64_t>(census.nonconforming));
    add("bep42_exempt", "BEP 42: contacts at local addresses, exempt", false,
        static_cast<std::uint64_t>(census.exempt));
    add("bep42_refused", "BEP 42: answers and queries from nonconforming IDs turned away", true,
        static_cast<std::uint64_t>(node.node().routing_table().ids_refused()));
    add("bep42_displaced", "BEP 42: nonconforming contacts that gave way to a conforming newcomer",
        true, static_cast<std::uint64_t>(node.node().routing_table().ids_displaced()));
    add("id_changes", "BEP 42: times this node took an ID matching its address", true,
        static_cast<std::uint64_t>(s.id_changes));
    add("foreign_nodes", "Nodes known not to speak kadnode's find_value and store", false,
        static_cast<std::uint64_t>(node.node().foreign_nodes().size()));
    add("rate_dropped_source", "Datagrams dropped past their source's rate", true,
        static_cast<std::uint64_t>(rl.dropped_source));
    add("rate_dropped_global", "Datagrams dropped past the global rate", true,
        static_cast<std::uint64_t>(rl.dropped_global));
    add("rate_dropped_ignored", "Datagrams dropped from a source being ignored", true,
        static_cast<std::uint64_t>(rl.dropped_ignored));
    add("rate_sources_ignored", "Times a source was put on ignore", true,
        static_cast<std::uint64_t>(rl.sources_ignored));
    add("rate_sources_full", "New sources not tracked: the table was full", true,
        static_cast<std::uint64_t>(rl.sources_full));
    add("send_errors", "Datagrams the socket refused (buffer full, no route)", true,
        static_cast<std::uint64_t>(rs.send_errors));
    add("unsendable", "Datagrams to a family the socket cannot send to", true,
        static_cast<std::uint64_t>(rs.unsendable));
    add("receive_errors", "Errors receiving datagrams", true,
        static_cast<std::uint64_t>(rs.receive_errors));
    add("truncated", "Datagrams larger than the receive buffer", true,
        static_cast<std::uint64_t>(rs.truncated));
    add("receive_overflows",
        "Datagrams the system dropped: the receive queue was full (the node fell behind)", true,
        static_cast<std::uint64_t>(rs.receive_overflows));
    if (const kad::Discovery* d = node.discovery()) {
        const auto& ds = d->stats();
        add("lan_received", "LAN discovery: datagrams received", true,
            static_cast<std::uint64_t>(ds.received));
        add("lan_announcements_in", "LAN discovery: announcements received", true,
            static_cast<std::uint64_t>(ds.announcements_in));
        add("lan_announcements_out", "LAN discovery: announcements sent", true,
            static_cast<std::uint64_t>(ds.announcements_out));
        add("lan_solicitations_in", "LAN discovery: solicitations received", true,
            static_cast<std::uint64_t>(ds.solicitations_in));
        add("lan_leaves_in", "LAN discovery: leave messages received", true,
            static_cast<std::uint64_t>(ds.leaves_in));
        add("lan_replies_suppressed", "LAN discovery: replies left to another node", true,
            static_cast<std::uint64_t>(ds.replies_suppressed));
        add("lan_malformed", "LAN discovery: malformed datagrams", true,
            static_cast<std::uint64_t>(ds.malformed));
        add("lan_other_network", "LAN discovery: datagrams of another network", true,
            static_cast<std::uint64_t>(ds.other_network));
        add("lan_unsigned_dropped", "LAN discovery: unsigned datagrams dropped while a key is set",
            true, static_cast<std::uint64_t>(ds.unsigned_dropped));
        add("lan_bad_signature", "LAN discovery: datagrams with a bad signature", true,
            static_cast<std::uint64_t>(ds.bad_signature));
        add("lan_keyed_dropped", "LAN discovery: signed datagrams dropped while no key is set",
            true, static_cast<std::uint64_t>(ds.keyed_dropped));
        add("lan_pings", "LAN discovery: pings of discovered peers", true,
            static_cast<std::uint64_t>(ds.pings));
        add("lan_pings_failed", "LAN discovery: pings that failed", true,
            static_cast<std::uint64_t>(ds.pings_failed));
        add("lan_pings_skipped", "LAN discovery: pings skipped (budget or table full)", true,
            static_cast<std::uint64_t>(ds.pings_skipped));
        add("lan_peers_joined", "LAN discovery: peers that joined the view", true,
            static_cast<std::uint64_t>(ds.peers_joined));
        add("lan_peers_left", "LAN discovery: peers that left the view", true,
            static_cast<std::uint64_t>(ds.peers_left));
    }
    auto by_method = [](const std::array<std::uint64_t, kad::krpc::kMethods>& v) {
        std::vector<std::pair<std::string, std::uint64_t>> values;
        for (std::size_t m = 0; m < v.size(); ++m) {
            values.emplace_back(kad::krpc::method_name(static_cast<kad::krpc::Method>(m)),
                                static_cast<std::uint64_t>(v[m]));
        }
        return values;
    };
    add_labelled("queries_in", "Queries received, by method", true, "method",
                 by_method(s.queries_in));
    add_labelled("queries_out", "Queries sent, by method", true, "method",
                 by_method(s.queries_out));
    std::vector<std::pair<std::string, std::uint64_t>> hops;
    for (std::size_t i = 0; i < s.lookup_hops.size(); ++i) {
        if (s.lookup_hops[i]) hops.emplace_back(std::to_string(i), s.lookup_hops[i]);
    }
    add_labelled("lookup_hops", "Lookups finished, by hops (15: 15 or more)", true, "hops",
                 std::move(hops));
    // The implementations in the routing table, by their "v".
    std::map<std::string, std::size_t> clients;
    for (const kad::Contact* c : node.node().routing_table().all()) {
        ++clients[kad::describe_client(node.node().client_versions().of(c->id))];
    }
    std::vector<std::pair<std::string, std::uint64_t>> by_client;
    for (const auto& [name, n] : clients)
        by_client.emplace_back(name, static_cast<std::uint64_t>(n));
    add_labelled("clients", "Routing-table contacts, by implementation (their \"v\")", false,
                 "client", std::move(by_client));
    // What the node holds against its bounds (kad::Node::footprint).
    std::vector<std::pair<std::string, std::uint64_t>> held, bounds;
    for (const auto& h : node.node().footprint()) {
        held.emplace_back(std::string(h.what), static_cast<std::uint64_t>(h.count));
        bounds.emplace_back(std::string(h.what), static_cast<std::uint64_t>(h.bound));
    }
    add_labelled("held", "What the node holds, by kind", false, "what", std::move(held));
    add_labelled("held_bound", "The bound its configuration sets on each kind held", false, "what",
                 std::move(bounds));
    return out;
}

const std::vector<std::string_view>& stats_sections() {
    static const std::vector<std::string_view> kSections = {
        "traffic", "rpc", "lookups", "store", "watch", "swarms", "routing", "limits", "lan"};
    return kSections;
}

std::string_view stats_section(std::string_view m) {
    // By name first, then by prefix.
    static const std::map<std::string_view, std::string_view, std::less<>> kByName = {
        {"packets_in", "traffic"},
        {"packets_out", "traffic"},
        {"bytes_in", "traffic"},
        {"bytes_out", "traffic"},
        {"queries_in", "traffic"},
        {"queries_out", "traffic"},
        {"send_errors", "traffic"},
        {"unsendable", "traffic"},
        {"receive_errors", "traffic"},
        {"truncated", "traffic"},
        {"receive_overflows", "traffic"},
        {"responses_in", "rpc"},
        {"errors_in", "rpc"},
        {"responses_out", "rpc"},
        {"errors_out", "rpc"},
        {"malformed_dropped", "rpc"},
        {"bad_queries", "rpc"},
        {"unknown_methods", "rpc"},
        {"unusable_source", "rpc"},
        {"unmatched_replies", "rpc"},
        {"wrong_endpoint", "rpc"},
        {"wrong_id", "rpc"},
        {"bad_responses", "rpc"},
        {"soft_timeouts", "rpc"},
        {"hard_timeouts", "rpc"},
        {"late_answers", "rpc"},
        {"read_only_queries", "rpc"},
        {"queries_ignored", "rpc"},
        {"probe_port_queries", "rpc"},
        {"transactions_full", "limits"},
        {"lookups_started", "lookups"},
        {"lookups_done", "lookups"},
        {"lookups_refused", "limits"},
        {"lookup_candidates_dropped", "limits"},
        {"lookup_hops", "lookups"},
        {"values_cached", "lookups"},
        {"watches", "watch"},
        {"watch_rounds", "watch"},
        {"listens_sent", "watch"},
        {"listens_held", "watch"},
        {"notifies_received", "watch"},
        {"notifies_rejected", "watch"},
        {"listeners", "watch"},
        {"listens_accepted", "watch"},
        {"listens_refused", "watch"},
        {"notifies_sent", "watch"},
        {"notifies_refused", "watch"},
        {"notifies_unanswered", "watch"},
        {"notifies_skipped", "limits"},
        {"stores_accepted", "store"},
        {"stores_refused", "store"},
        {"stores_full", "limits"},
        {"stores_over_quota", "limits"},
        {"stores_over_budget", "limits"},
        {"items_evicted", "limits"},
        {"puts_accepted", "store"},
        {"puts_refused", "store"},
        {"bad_items", "store"},
        {"republished", "store"},
        {"republish_stores", "store"},
        {"republishes_deferred", "limits"},
        {"refreshed_originals", "store"},
        {"items_refreshed", "store"},
        {"items_superseded", "store"},
        {"values_superseded", "store"},
        {"handoffs", "store"},
        {"handoff_stores", "store"},
        {"handoffs_skipped", "limits"},
        {"seen_seq_evicted", "limits"},
        {"samples_sent", "swarms"},
        {"announces_accepted", "swarms"},
        {"announces_refused", "swarms"},
        {"announces_dropped", "limits"},
        {"swarms", "swarms"},
        {"swarm_peers", "swarms"},
        {"maintenance_pings", "routing"},
        {"maintenance_pings_skipped", "limits"},
        {"bucket_refreshes", "routing"},
        {"early_refreshes", "routing"},
        {"rechecks", "routing"},
        {"reach_probes", "routing"},
        {"reach_probes_unanswered", "routing"},
        {"reach_probes_skipped", "routing"},
        {"contacts_address_limited", "limits"},
        {"replacements_dropped", "limits"},
        {"id_changes", "routing"},
        {"foreign_nodes", "routing"},
        {"clients", "routing"},
        {"held", "limits"},
        {"held_bound", "limits"},
    };
    if (auto it = kByName.find(m); it != kByName.end()) return it->second;
    if (m.starts_with("bep42_")) return "routing";
    if (m.starts_with("rate_")) return "limits";
    if (m.starts_with("lan_")) return "lan";
    return {};
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
