#include "kad/results.hpp"

namespace kad {

std::string_view to_string(Failure f) noexcept {
    switch (f) {
        case Failure::None:
            return "ok";
        case Failure::Cancelled:
            return "cancelled";
        case Failure::Closed:
            return "closed";
        case Failure::Busy:
            return "busy";
        case Failure::NoContacts:
            return "no_contacts";
        case Failure::Timeout:
            return "timeout";
        case Failure::Refused:
            return "refused";
        case Failure::Unreachable:
            return "unreachable";
        case Failure::BadArgument:
            return "bad_argument";
        case Failure::BadResponse:
            return "bad_response";
        case Failure::WrongId:
            return "wrong_id";
        case Failure::NotFound:
            return "not_found";
        case Failure::SeqExhausted:
            return "seq_exhausted";
        case Failure::Superseded:
            return "superseded";
    }
    return "unknown";
}

}  // namespace kad

namespace kad {

std::string_view to_string(TraceEvent::Kind k) noexcept {
    switch (k) {
        case TraceEvent::Kind::Query:
            return "query";
        case TraceEvent::Kind::Reply:
            return "reply";
        case TraceEvent::Kind::SoftTimeout:
            return "soft_timeout";
        case TraceEvent::Kind::Timeout:
            return "timeout";
        case TraceEvent::Kind::Error:
            return "error";
        case TraceEvent::Kind::Unsendable:
            return "unsendable";
        case TraceEvent::Kind::Done:
            return "done";
    }
    return "?";
}

}  // namespace kad
