// fix_acceptor - a QuickFIX engine peer for the end-to-end tests: accepts FIX sessions from any
// counterparty, reports them as JSON lines on stdout and echoes every application message.
//
// QuickFIX 1.15.1 (C++) has no dynamic acceptor sessions: SocketAcceptor only accepts SessionIDs listed in
// its settings (AcceptorTemplate is a QuickFIX/J feature). So this program owns the sockets and drives the
// real QuickFIX FIX::Session state machine itself, creating a Session (through FIX::SessionFactory) the
// first time a counterparty logs on. Everything FIX (Logon answer, sequence numbers, heartbeats, test
// requests, Logout) is QuickFIX's own code; only the TCP plumbing is ours. See README.md for the protocol.
#include "peer_common.h"

#include <quickfix/Application.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Parser.h>
#include <quickfix/Session.h>
#include <quickfix/SessionFactory.h>
#include <quickfix/Values.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace
{

const char USAGE[] =
    "usage: fix_acceptor --port N --begin-string FIX.4.4 --sender-comp-id ENGINE_A [options]\n"
    "  --port N                 TCP port to listen on (0: any free port, reported in the listening event)\n"
    "  --bind ADDR              IPv4 address to listen on (default 127.0.0.1)\n"
    "  --begin-string S         BeginString the counterparty must use (FIX.4.0 .. FIX.4.4, FIXT.1.1)\n"
    "  --sender-comp-id ID      our SenderCompID: the Logon's TargetCompID (56) must equal it; '*' accepts "
    "any\n"
    "  --target-comp-id ID      the counterparty's SenderCompID (49) to accept (default '*': any)\n"
    "  --name NAME              name reported in events and echoed in Text (default: the sender-comp-id)\n"
    "  --data-dictionary D      'none' (default: no validation, custom tags pass) or a QuickFIX XML file\n"
    "  --app-data-dictionary D  with FIXT.1.1 and a data dictionary: the application dictionary\n"
    "  --log-dir DIR            also write QuickFIX FileLogs to DIR\n"
    "  --verbose                copy every FIX message and session event to stderr\n";

struct Options {
	std::string bind, begin_string, sender, target, name, dictionary, app_dictionary, log_dir;
	int port = 0;
	bool verbose = false;
};

struct Conn;

// Sessions are created on first Logon and kept (with their MemoryStore) until exit; a session is bound to
// at most one live connection at a time.
struct State {
	Options opt;
	std::map<FIX::SessionID, FIX::Session *> sessions;
	std::map<FIX::SessionID, Conn *> bound;
	std::map<FIX::SessionID, std::string> logon_raw; // the counterparty's Logon, as received
	std::map<FIX::SessionID, std::string> peer_of;
};

// One TCP connection: a FIX::Responder through which its Session writes and disconnects.
struct Conn final : public FIX::Responder {
	int fd = -1;
	std::string peer;
	FIX::Parser parser;
	FIX::Session *session = nullptr;
	bool closing = false;

	bool send(const std::string &data) override
	{
		size_t off = 0;
		while (off < data.size() && !closing) {
			ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
			if (n > 0) {
				off += static_cast<size_t>(n);
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				struct pollfd p = {fd, POLLOUT, 0};
				if (::poll(&p, 1, 5000) <= 0)
					closing = true;
			} else {
				closing = true;
			}
		}
		return !closing;
	}
	void disconnect() override
	{
		closing = true;
	}
};

// Counterparty perspective in events: "sender" is the Logon's 49, "target" its 56.
peer::Json session_event(const State &st, const char *event, const FIX::SessionID &id)
{
	peer::Json j;
	j.str("event", event)
	    .str("acceptor", st.opt.name)
	    .str("sender", id.getTargetCompID().getValue())
	    .str("target", id.getSenderCompID().getValue())
	    .str("begin_string", id.getBeginString().getValue());
	auto p = st.peer_of.find(id);
	if (p != st.peer_of.end())
		j.str("peer", p->second);
	return j;
}

// The FIX::Application callbacks with throw(...) specifications in QuickFIX 1.15.1 are overridden as
// noexcept (a stricter specification is a valid override, and the deprecated throw() form would warn):
// these peers never throw from a callback.
class EchoApp : public FIX::Application
{
      public:
	explicit EchoApp(State &st) : st_(st)
	{
	}

	void onCreate(const FIX::SessionID &) override
	{
	}
	void onLogon(const FIX::SessionID &id) override
	{
		peer::Json j = session_event(st_, "logon", id);
		const std::string &raw = st_.logon_raw[id];
		j.str("sender_sub_id", peer::raw_field(raw, 50))
		    .str("deliver_to_comp_id", peer::raw_field(raw, 128))
		    .raw("fields", peer::fields_json(raw))
		    .str("logon", peer::printable(raw));
		peer::emit(j);
	}
	void onLogout(const FIX::SessionID &id) override
	{
		peer::emit(session_event(st_, "logout", id));
	}
	void toAdmin(FIX::Message &, const FIX::SessionID &) override
	{
	}
	void toApp(FIX::Message &, const FIX::SessionID &) noexcept override
	{
	}
	void fromAdmin(const FIX::Message &, const FIX::SessionID &) noexcept override
	{
	}
	void fromApp(const FIX::Message &msg, const FIX::SessionID &id) noexcept override
	{
		const std::string type = msg.getHeader().getField(FIX::FIELD::MsgType);
		const std::string text =
		    msg.isSetField(FIX::FIELD::Text) ? msg.getField(FIX::FIELD::Text) : "";
		const std::string headline =
		    msg.isSetField(FIX::FIELD::Headline) ? msg.getField(FIX::FIELD::Headline) : "";
		peer::Json j = session_event(st_, "app", id);
		j.str("msg_type", type).str("headline", headline).str("text", text);
		peer::emit(j);

		// Echo: same type and body, Text replaced; QuickFIX fills the header (8, 49, 56, 34, 52).
		FIX::Message reply(msg);
		reply.getHeader().clear();
		reply.getTrailer().clear();
		reply.getHeader().setField(FIX::FIELD::MsgType, type);
		reply.setField(FIX::FIELD::Text, "echo:" + st_.opt.name + ":" + text);
		try {
			FIX::Session::sendToTarget(reply, id);
		} catch (const FIX::SessionNotFound &) {
		}
	}

      private:
	State &st_;
};

FIX::Dictionary session_settings(const Options &opt, const FIX::SessionID &id)
{
	FIX::Dictionary d;
	d.setString(FIX::CONNECTION_TYPE, "acceptor");
	d.setString(FIX::BEGINSTRING, id.getBeginString());
	d.setString(FIX::SENDERCOMPID, id.getSenderCompID());
	d.setString(FIX::TARGETCOMPID, id.getTargetCompID());
	d.setString(FIX::START_TIME, "00:00:00");
	d.setString(FIX::END_TIME, "00:00:00");
	d.setString(FIX::RESET_ON_LOGON, "Y");
	d.setString(FIX::RESET_ON_LOGOUT, "Y");
	d.setString(FIX::RESET_ON_DISCONNECT, "Y");
	d.setString(FIX::CHECK_LATENCY, "N");
	d.setString(FIX::VALIDATE_USER_DEFINED_FIELDS, "N");
	d.setString(FIX::VALIDATE_FIELDS_OUT_OF_ORDER, "N");
	d.setString(FIX::VALIDATE_FIELDS_HAVE_VALUES, "N");
	d.setString(FIX::ALLOW_UNKNOWN_MSG_FIELDS, "Y");
	if (id.isFIXT())
		d.setString(FIX::DEFAULT_APPLVERID, "FIX.5.0SP2");
	if (opt.dictionary == "none") {
		d.setString(FIX::USE_DATA_DICTIONARY, "N");
	} else {
		d.setString(FIX::USE_DATA_DICTIONARY, "Y");
		if (id.isFIXT()) {
			d.setString(FIX::TRANSPORT_DATA_DICTIONARY, opt.dictionary);
			d.setString(FIX::APP_DATA_DICTIONARY, opt.app_dictionary);
		} else {
			d.setString(FIX::DATA_DICTIONARY, opt.dictionary);
		}
	}
	return d;
}

// Report a refused connection; always false, for bind_session to return.
bool reject(const State &st, const Conn &c, const std::string &why)
{
	peer::emit(peer::Json()
	               .str("event", "rejected")
	               .str("acceptor", st.opt.name)
	               .str("peer", c.peer)
	               .str("reason", why));
	return false;
}

// First message on a connection: find or create its Session. Like QuickFIX's own acceptor, a connection
// whose first message does not name an acceptable session is closed without a FIX answer.
bool bind_session(State &st, FIX::SessionFactory &factory, Conn &c, const std::string &msg)
{
	const std::string begin = peer::raw_field(msg, 8), type = peer::raw_field(msg, 35);
	const std::string their = peer::raw_field(msg, 49), ours = peer::raw_field(msg, 56);
	if (type != "A")
		return reject(st, c, "first message is not a Logon (35=" + type + ")");
	if (begin != st.opt.begin_string)
		return reject(st, c, "BeginString " + begin + " is not " + st.opt.begin_string);
	if (ours.empty() || their.empty())
		return reject(st, c, "Logon without SenderCompID or TargetCompID");
	if (st.opt.sender != "*" && ours != st.opt.sender)
		return reject(st, c, "TargetCompID " + ours + " is not " + st.opt.sender);
	if (st.opt.target != "*" && their != st.opt.target)
		return reject(st, c, "SenderCompID " + their + " is not " + st.opt.target);

	FIX::SessionID id(begin, ours, their);
	if (st.bound.count(id))
		return reject(st, c, "session " + id.toString() + " is already connected");
	FIX::Session *s = st.sessions[id];
	if (!s) {
		try {
			s = factory.create(id, session_settings(st.opt, id));
		} catch (const std::exception &e) {
			st.sessions.erase(id);
			return reject(st, c, std::string("cannot create session: ") + e.what());
		}
		st.sessions[id] = s;
	}
	st.logon_raw[id] = msg;
	st.peer_of[id] = c.peer;
	st.bound[id] = &c;
	c.session = s;
	s->setResponder(&c);
	return true;
}

void on_readable(State &st, FIX::SessionFactory &factory, Conn &c)
{
	char buf[16384];
	ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		c.closing = true;
		return;
	}
	c.parser.addToStream(buf, static_cast<size_t>(n));
	std::string msg;
	while (!c.closing) {
		try {
			if (!c.parser.readFixMessage(msg))
				break;
		} catch (const std::exception &) {
			c.closing = true; // not FIX framing: nothing sensible to answer
			break;
		}
		if (!c.session && !bind_session(st, factory, c, msg)) {
			c.closing = true;
			break;
		}
		try {
			c.session->next(msg, FIX::UtcTimeStamp());
		} catch (const std::exception &e) {
			if (!c.session->isLoggedOn())
				c.closing = true;
		}
	}
}

// Detach a closing connection from its Session (which then resets: ResetOnDisconnect) and close it.
void reap(State &st, Conn *c)
{
	if (c->session) {
		const FIX::SessionID id = c->session->getSessionID();
		c->session->disconnect(); // no-op for the socket if the Session already let go of us
		st.bound.erase(id);
	}
	::close(c->fd);
	peer::emit(
	    peer::Json().str("event", "disconnected").str("acceptor", st.opt.name).str("peer", c->peer));
	delete c;
}

int listen_on(const Options &opt, int &port_out)
{
	int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {};
	a.sin_family = AF_INET;
	a.sin_port = htons(static_cast<uint16_t>(opt.port));
	if (::inet_pton(AF_INET, opt.bind.c_str(), &a.sin_addr) != 1 ||
	    ::bind(fd, reinterpret_cast<struct sockaddr *>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0) {
		::close(fd);
		return -1;
	}
	socklen_t len = sizeof(a);
	::getsockname(fd, reinterpret_cast<struct sockaddr *>(&a), &len);
	port_out = ntohs(a.sin_port);
	return fd;
}

void accept_one(State &st, int lfd, std::vector<Conn *> &conns)
{
	struct sockaddr_in a = {};
	socklen_t len = sizeof(a);
	int fd = ::accept4(lfd, reinterpret_cast<struct sockaddr *>(&a), &len, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int one = 1;
	::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char ip[INET_ADDRSTRLEN] = "?";
	::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	Conn *c = new Conn();
	c->fd = fd;
	c->peer = std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
	conns.push_back(c);
	peer::emit(peer::Json().str("event", "accepted").str("acceptor", st.opt.name).str("peer", c->peer));
}

// One pass of the loop: wait up to timeout_ms for input, read, run the session timers, reap closed ones.
void run_once(State &st, FIX::SessionFactory &factory, int lfd, std::vector<Conn *> &conns, int timeout_ms)
{
	std::vector<struct pollfd> pfds;
	pfds.push_back({lfd, static_cast<short>(lfd >= 0 ? POLLIN : 0), 0});
	for (Conn *c : conns)
		pfds.push_back({c->fd, POLLIN, 0});
	if (::poll(pfds.data(), pfds.size(), timeout_ms) < 0 && errno != EINTR)
		return;

	size_t existing = conns.size();
	for (size_t i = 0; i < existing; i++)
		if (pfds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
			on_readable(st, factory, *conns[i]);
	if (lfd >= 0 && (pfds[0].revents & POLLIN))
		accept_one(st, lfd, conns);

	for (Conn *c : conns) // heartbeats, test requests, logon/logout timeouts
		if (c->session && !c->closing) {
			try {
				c->session->next(FIX::UtcTimeStamp());
			} catch (const std::exception &) {
				c->closing = true;
			}
		}

	std::vector<Conn *> live;
	for (Conn *c : conns) {
		if (c->closing)
			reap(st, c);
		else
			live.push_back(c);
	}
	conns.swap(live);
}

} // namespace

int main(int argc, char **argv)
{
	peer::Args args(argc, argv, {"verbose"},
	                {"port", "bind", "begin-string", "sender-comp-id", "target-comp-id", "name",
	                 "data-dictionary", "app-data-dictionary", "log-dir"},
	                USAGE);
	State st;
	Options &opt = st.opt;
	opt.port = static_cast<int>(args.number("port", -1, 0, 65535));
	if (opt.port < 0)
		args.fail("--port is required");
	opt.bind = args.get("bind", "127.0.0.1");
	opt.begin_string = args.need("begin-string");
	opt.sender = args.need("sender-comp-id");
	opt.target = args.get("target-comp-id", "*");
	opt.name = args.get("name", opt.sender);
	opt.dictionary = args.get("data-dictionary", "none");
	opt.app_dictionary = args.get("app-data-dictionary", opt.dictionary);
	opt.log_dir = args.get("log-dir");
	opt.verbose = args.has("verbose");

	peer::claim_stdout();
	peer::install_signal_handlers();
	int port = 0;
	int lfd = listen_on(opt, port);
	if (lfd < 0) {
		std::fprintf(stderr, "fix_acceptor: cannot listen on %s:%d: %s\n", opt.bind.c_str(), opt.port,
		             std::strerror(errno));
		return 1;
	}

	EchoApp app(st);
	FIX::MemoryStoreFactory store;
	peer::PeerLogFactory logs(opt.log_dir, opt.verbose);
	FIX::SessionFactory factory(app, store, &logs);
	std::vector<Conn *> conns;

	peer::emit(peer::Json()
	               .str("event", "listening")
	               .str("acceptor", opt.name)
	               .str("address", opt.bind)
	               .num("port", port)
	               .num("pid", static_cast<long long>(::getpid())));

	while (!peer::stop_flag())
		run_once(st, factory, lfd, conns, 100);

	// Stop: no new connections; log out every logged-on session, give counterparties a second to answer.
	::close(lfd);
	for (Conn *c : conns)
		if (c->session && c->session->isLoggedOn()) {
			c->session->logout("acceptor stopping");
			c->session->next(FIX::UtcTimeStamp());
		}
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
	while (!conns.empty() && std::chrono::steady_clock::now() < deadline)
		run_once(st, factory, -1, conns, 50);
	for (Conn *c : conns) {
		c->closing = true;
		reap(st, c);
	}
	for (auto &s : st.sessions)
		factory.destroy(s.second);
	peer::emit(peer::Json().str("event", "stopped").str("acceptor", opt.name));
	return 0;
}
