// fix_initiator - a QuickFIX counterparty for the end-to-end tests: one connection, one Logon (with any
// extra tags the test wants the gateway to route on), N News messages, N echoes, Logout, exit. Every step
// is a JSON line on stdout; the exit code says how the run ended (see README.md).
#include "peer_common.h"

#include <quickfix/Application.h>
#include <quickfix/Group.h>
#include <quickfix/MessageStore.h>
#include <quickfix/SSLSocketInitiator.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace
{

const char USAGE[] =
    "usage: fix_initiator --port N --begin-string FIX.4.4 --sender-comp-id BROKER_A --target-comp-id "
    "GATEWAY\n"
    "                     [options]\n"
    "  --host H                  address to connect to (default 127.0.0.1)\n"
    "  --port N                  port to connect to\n"
    "  --begin-string S          FIX.4.0 .. FIX.4.4, FIXT.1.1\n"
    "  --sender-comp-id ID       our SenderCompID (49)\n"
    "  --target-comp-id ID       our TargetCompID (56)\n"
    "  --sender-sub-id X         SenderSubID (50) in the Logon and every application message\n"
    "  --deliver-to-comp-id Y    DeliverToCompID (128) in the Logon and every application message\n"
    "  --logon-tag TAG=VALUE     extra field in the Logon (repeatable; header tags go to the header)\n"
    "  --username U              Username (553) in the Logon\n"
    "  --password P              Password (554) in the Logon\n"
    "  --messages N              News messages to send after Logon (default 1)\n"
    "  --interval-ms T           pause between two News messages (default 0)\n"
    "  --timeout-ms T            deadline for the whole run (default 10000)\n"
    "  --heartbeat S             HeartBtInt (default 30)\n"
    "  --tls                     connect with TLS (QuickFIX SSLSocketInitiator)\n"
    "  --ca FILE                 verify the server certificate against FILE (PEM); without it, no check\n"
    "  --cert FILE / --key FILE  client certificate and key (PEM)\n"
    "  --ssl-protocol P          QuickFIX SSLProtocol (default 'all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1')\n"
    "  --ssl-ciphers C           QuickFIX SSLCipherSuite (OpenSSL cipher list)\n"
    "  --log-dir DIR             also write QuickFIX FileLogs to DIR\n"
    "  --verbose                 copy every FIX message and session event to stderr\n"
    "exit: 0 done, 2 bad usage or configuration, 3 Logout received, 4 timeout,\n"
    "      5 connection closed or refused without a Logout, 130 interrupted\n";

enum Exit {
	EXIT_DONE = 0,
	EXIT_USAGE = 2,
	EXIT_LOGOUT = 3,
	EXIT_TIMEOUT = 4,
	EXIT_CLOSED = 5,
	EXIT_SIGNAL = 130
};

struct Options {
	std::string sender_sub_id, deliver_to;
	std::vector<std::pair<int, std::string>> logon_tags;
	std::string username, password;
};

// What the QuickFIX thread has seen; the main thread waits on it.
struct Progress {
	std::mutex mu;
	std::condition_variable cv;
	bool logged_on = false;
	bool logout_seen = false; // a Logout (35=5) arrived, whether or not QuickFIX accepted it
	std::string logout_text, logout_raw;
	bool ended = false; // the connection is over (closed, refused, or logged out)
	std::string end_reason;
	int echoes = 0;

	struct Snapshot {
		bool logged_on, logout_seen, ended;
		std::string logout_text, logout_raw, end_reason;
		int echoes;
	};
	Snapshot snapshot()
	{
		std::lock_guard<std::mutex> lock(mu);
		return {logged_on, logout_seen, ended, logout_text, logout_raw, end_reason, echoes};
	}
};

// The session must never reconnect: one run is one connection attempt. QuickFIX's Initiator only
// (re)connects enabled sessions, so the session is disabled as soon as its connection is over.
void disable(const FIX::SessionID &id)
{
	FIX::Session *s = FIX::Session::lookupSession(id);
	if (s)
		s->logout();
}

// The FIX::Application callbacks with throw(...) specifications in QuickFIX 1.15.1 are overridden as
// noexcept (a stricter specification is a valid override, and the deprecated throw() form would warn):
// these peers never throw from a callback.
class App : public FIX::Application
{
      public:
	App(const Options &opt, Progress &pr, const FIX::SessionID &id, long expected)
	    : opt_(opt), pr_(pr), id_(id), expected_(expected)
	{
	}

	void onCreate(const FIX::SessionID &) override
	{
	}
	void onLogon(const FIX::SessionID &id) override
	{
		{
			std::lock_guard<std::mutex> lock(pr_.mu);
			pr_.logged_on = true;
		}
		pr_.cv.notify_all();
		peer::emit(peer::Json()
		               .str("event", "logon")
		               .str("sender", id.getSenderCompID().getValue())
		               .str("target", id.getTargetCompID().getValue()));
		if (expected_ == 0)
			logout(id);
	}
	void onLogout(const FIX::SessionID &id) override
	{
		disable(id);
		end("disconnected");
	}
	void toAdmin(FIX::Message &msg, const FIX::SessionID &) override
	{
		if (msg.getHeader().getField(FIX::FIELD::MsgType) != "A")
			return;
		add_routing_header(msg);
		if (!opt_.username.empty())
			msg.setField(FIX::FIELD::Username, opt_.username);
		if (!opt_.password.empty())
			msg.setField(FIX::FIELD::Password, opt_.password);
		for (const auto &t : opt_.logon_tags) {
			if (FIX::Message::isHeaderField(t.first))
				msg.getHeader().setField(t.first, t.second);
			else
				msg.setField(t.first, t.second);
		}
	}
	void toApp(FIX::Message &msg, const FIX::SessionID &) noexcept override
	{
		add_routing_header(msg);
	}
	void fromAdmin(const FIX::Message &, const FIX::SessionID &) noexcept override
	{
	}
	void fromApp(const FIX::Message &msg, const FIX::SessionID &id) noexcept override
	{
		const std::string type = msg.getHeader().getField(FIX::FIELD::MsgType);
		const std::string headline =
		    msg.isSetField(FIX::FIELD::Headline) ? msg.getField(FIX::FIELD::Headline) : "";
		const std::string text =
		    msg.isSetField(FIX::FIELD::Text) ? msg.getField(FIX::FIELD::Text) : "";
		peer::emit(peer::Json()
		               .str("event", "echo")
		               .str("msg_type", type)
		               .str("headline", headline)
		               .str("text", text));
		int echoes;
		{
			std::lock_guard<std::mutex> lock(pr_.mu);
			echoes = ++pr_.echoes;
		}
		pr_.cv.notify_all();
		if (echoes == expected_)
			logout(id);
	}

	// Raw incoming messages (via the log): a Logout is recorded even if QuickFIX would not accept it
	// (wrong CompIDs, stale SendingTime), because what the tests need is the reason the peer gave.
	void on_incoming(const FIX::SessionID &, const std::string &raw)
	{
		if (peer::raw_field(raw, 35) != "5")
			return;
		{
			std::lock_guard<std::mutex> lock(pr_.mu);
			if (!pr_.logout_seen) {
				pr_.logout_seen = true;
				pr_.logout_text = peer::raw_field(raw, 58);
				pr_.logout_raw = raw;
			}
		}
		pr_.cv.notify_all();
	}
	// Session and global (TLS) log events, on QuickFIX's thread.
	void on_event(const FIX::SessionID &, const std::string &text)
	{
		auto starts = [&text](const char *prefix) {
			return text.compare(0, std::strlen(prefix), prefix) == 0;
		};
		// Socket errors are only events ("Socket Error: Connection reset by peer." for a refused and
		// a closed connection alike); keep the last one as the reason the connection ended.
		if (starts("Socket Error") || starts("Connection failed") || starts("SSL_connect failed")) {
			std::lock_guard<std::mutex> lock(pr_.mu);
			last_error_ = text;
		}
		// These end the attempt without onLogout (no Logon was sent): disable the session before the
		// initiator's next timer tick would reconnect it.
		if (starts("Connection failed") || starts("SSL_connect failed")) {
			disable(id_);
			end("connection failed");
		}
		// Safety net: a second attempt must never go unnoticed by the tests.
		if (starts("Connecting to") && ++attempts_ > 1) {
			disable(id_);
			end("second connection attempt");
		}
	}

      private:
	// Called on QuickFIX's thread: the Logout goes out on the session's next timer tick, which the
	// initiator runs right after the message being processed.
	static void logout(const FIX::SessionID &id)
	{
		FIX::Session *s = FIX::Session::lookupSession(id);
		if (s)
			s->logout("done");
	}

	void add_routing_header(FIX::Message &msg) const
	{
		if (!opt_.sender_sub_id.empty())
			msg.getHeader().setField(FIX::FIELD::SenderSubID, opt_.sender_sub_id);
		if (!opt_.deliver_to.empty())
			msg.getHeader().setField(FIX::FIELD::DeliverToCompID, opt_.deliver_to);
	}
	void end(const std::string &why)
	{
		{
			std::lock_guard<std::mutex> lock(pr_.mu);
			if (!pr_.ended) {
				pr_.ended = true;
				pr_.end_reason = last_error_.empty() ? why : last_error_;
			}
		}
		pr_.cv.notify_all();
	}

	const Options &opt_;
	Progress &pr_;
	const FIX::SessionID id_;
	const long expected_;
	std::string last_error_; // guarded by pr_.mu
	int attempts_ = 0;       // QuickFIX's thread only
};

using Clock = std::chrono::steady_clock;

// Wait until pred() holds (true), the deadline passes or a stop signal arrives (false).
template <typename Pred> bool wait_for(Progress &pr, Clock::time_point deadline, Pred pred)
{
	std::unique_lock<std::mutex> lock(pr.mu);
	while (!pred()) {
		if (peer::stop_flag() || Clock::now() >= deadline)
			return false;
		auto step = std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(50));
		pr.cv.wait_for(lock, step);
	}
	return true;
}

FIX::Message news(const std::string &headline)
{
	FIX::Message m;
	m.getHeader().setField(FIX::FIELD::MsgType, "B");
	m.setField(FIX::FIELD::Headline, headline);
	FIX::Group lines(FIX::FIELD::LinesOfText, FIX::FIELD::Text);
	lines.setField(FIX::FIELD::Text, headline);
	m.addGroup(lines);
	return m;
}

} // namespace

int main(int argc, char **argv)
{
	peer::Args args(argc, argv, {"tls", "verbose"},
	                {"host",
	                 "port",
	                 "begin-string",
	                 "sender-comp-id",
	                 "target-comp-id",
	                 "sender-sub-id",
	                 "deliver-to-comp-id",
	                 "logon-tag",
	                 "username",
	                 "password",
	                 "messages",
	                 "interval-ms",
	                 "timeout-ms",
	                 "heartbeat",
	                 "ca",
	                 "cert",
	                 "key",
	                 "ssl-protocol",
	                 "ssl-ciphers",
	                 "log-dir"},
	                USAGE);
	Options opt;
	const std::string host = args.get("host", "127.0.0.1");
	const long port = args.number("port", -1, 1, 65535);
	if (port < 0)
		args.fail("--port is required");
	const std::string begin = args.need("begin-string");
	const std::string sender = args.need("sender-comp-id");
	const std::string target = args.need("target-comp-id");
	opt.sender_sub_id = args.get("sender-sub-id");
	opt.deliver_to = args.get("deliver-to-comp-id");
	opt.username = args.get("username");
	opt.password = args.get("password");
	for (const std::string &t : args.all("logon-tag")) {
		const size_t eq = t.find('=');
		const std::string tag_text = eq == std::string::npos ? "" : t.substr(0, eq);
		char *end = nullptr;
		const long tag = std::strtol(tag_text.c_str(), &end, 10);
		if (tag_text.empty() || *end != '\0' || tag <= 0 || tag > 999999999 || eq + 1 == t.size())
			args.fail("--logon-tag wants TAG=VALUE, got " + t);
		opt.logon_tags.emplace_back(static_cast<int>(tag), t.substr(eq + 1));
	}
	const long messages = args.number("messages", 1, 0, 1000000);
	const long interval_ms = args.number("interval-ms", 0, 0, 3600000);
	const long timeout_ms = args.number("timeout-ms", 10000, 1, 86400000);
	const long heartbeat = args.number("heartbeat", 30, 1, 3600);
	const bool tls = args.has("tls");
	if (!tls && (args.has("ca") || args.has("cert") || args.has("key")))
		args.fail("--ca, --cert and --key need --tls");

	peer::claim_stdout();
	peer::install_signal_handlers();
	const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);

	FIX::SessionID id(begin, sender, target);
	FIX::SessionSettings settings;
	std::unique_ptr<FIX::Initiator> initiator;
	Progress pr;
	App app(opt, pr, id, messages);
	FIX::MemoryStoreFactory store;
	peer::PeerLogFactory logs(args.get("log-dir"), args.has("verbose"));
	logs.hooks.incoming = [&app](const FIX::SessionID &sid, const std::string &m) {
		app.on_incoming(sid, m);
	};
	logs.hooks.event = [&app](const FIX::SessionID &sid, const std::string &t) { app.on_event(sid, t); };
	try {
		FIX::Dictionary defaults; // SSL settings are read from the defaults section
		if (tls) {
			defaults.setString(FIX::SSL_PROTOCOL,
			                   args.get("ssl-protocol", "all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1"));
			if (args.has("ca"))
				defaults.setString(FIX::CERT_AUTH_FILE, args.get("ca"));
			if (args.has("cert"))
				defaults.setString(FIX::CLIENT_CERT_FILE, args.get("cert"));
			if (args.has("key"))
				defaults.setString(FIX::CLIENT_CERT_KEY_FILE, args.get("key"));
			if (args.has("ssl-ciphers"))
				defaults.setString(FIX::SSL_CIPHER_SUITE, args.get("ssl-ciphers"));
		}
		settings.set(defaults);

		FIX::Dictionary d;
		d.setString(FIX::CONNECTION_TYPE, "initiator");
		d.setString(FIX::SOCKET_CONNECT_HOST, host);
		d.setInt(FIX::SOCKET_CONNECT_PORT, static_cast<int>(port));
		d.setString(FIX::SOCKET_NODELAY, "Y");
		d.setInt(FIX::HEARTBTINT, static_cast<int>(heartbeat));
		d.setInt(FIX::RECONNECT_INTERVAL, 86400); // belt and braces: the session is disabled anyway
		d.setInt(FIX::LOGON_TIMEOUT, static_cast<int>(std::max(1L, timeout_ms / 1000)));
		d.setString(FIX::START_TIME, "00:00:00");
		d.setString(FIX::END_TIME, "00:00:00");
		d.setString(FIX::RESET_ON_LOGON, "Y");
		d.setString(FIX::RESET_ON_LOGOUT, "Y");
		d.setString(FIX::RESET_ON_DISCONNECT, "Y");
		d.setString(FIX::CHECK_LATENCY, "N");
		d.setString(FIX::USE_DATA_DICTIONARY, "N");
		d.setString(FIX::VALIDATE_USER_DEFINED_FIELDS, "N");
		d.setString(FIX::VALIDATE_FIELDS_OUT_OF_ORDER, "N");
		d.setString(FIX::VALIDATE_FIELDS_HAVE_VALUES, "N");
		d.setString(FIX::ALLOW_UNKNOWN_MSG_FIELDS, "Y");
		if (id.isFIXT())
			d.setString(FIX::DEFAULT_APPLVERID, "FIX.5.0SP2");
		settings.set(id, d);

		if (tls)
			initiator.reset(new FIX::SSLSocketInitiator(app, store, settings, logs));
		else
			initiator.reset(new FIX::SocketInitiator(app, store, settings, logs));
		initiator->start();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "fix_initiator: %s\n", e.what());
		return EXIT_USAGE;
	}

	// Exit without Initiator::stop(): its thread only notices a stop after a 1 s poll, and by now there
	// is nothing left to clean up (MemoryStore; FileLog lines are flushed as written). Exiting closes the
	// socket if the connection is still open.
	auto finish = [&](Exit code, const peer::Json &event) {
		peer::emit(event);
		std::fflush(nullptr); // what QuickFIX printed to (redirected) stdout
		std::_Exit(static_cast<int>(code));
		return static_cast<int>(code);
	};
	// The run ended before "done": say why, from a consistent copy of the progress.
	auto unfinished = [&]() {
		Progress::Snapshot p = pr.snapshot();
		if (peer::stop_flag())
			return finish(EXIT_SIGNAL,
			              peer::Json().str("event", "interrupted").num("received", p.echoes));
		if (p.logout_seen)
			return finish(EXIT_LOGOUT, peer::Json()
			                               .str("event", "logout")
			                               .str("text", p.logout_text)
			                               .str("message", peer::printable(p.logout_raw))
			                               .num("received", p.echoes));
		if (p.ended)
			return finish(EXIT_CLOSED, peer::Json()
			                               .str("event", "disconnected")
			                               .str("reason", p.end_reason)
			                               .num("received", p.echoes));
		return finish(EXIT_TIMEOUT, peer::Json().str("event", "timeout").num("received", p.echoes));
	};

	// 1. Logon, or the reason there was none.
	if (!wait_for(pr, deadline, [&] { return pr.logged_on || pr.logout_seen || pr.ended; }) ||
	    !pr.snapshot().logged_on) {
		// A Logout is normally followed by the close; give it a moment so that the run ends cleanly.
		wait_for(pr, std::min(deadline, Clock::now() + std::chrono::seconds(1)),
		         [&] { return pr.ended; });
		return unfinished();
	}

	// 2. N News messages, then their N echoes.
	auto over = [&] { return pr.logout_seen || pr.ended; };
	for (long i = 0; i < messages; i++) {
		if (i > 0 && interval_ms > 0) {
			auto until =
			    std::min(deadline, Clock::now() + std::chrono::milliseconds(interval_ms));
			if (wait_for(pr, until, over) || peer::stop_flag() || Clock::now() >= deadline)
				return unfinished();
		}
		FIX::Message m = news("msg-" + std::to_string(i));
		try {
			FIX::Session::sendToTarget(m, id);
		} catch (const FIX::SessionNotFound &) {
			return unfinished();
		}
	}
	if (!wait_for(pr, deadline, [&] { return pr.echoes >= messages || over(); }) ||
	    pr.snapshot().echoes < messages)
		return unfinished();

	// 3. The Logout went out with the last echo (App::fromApp); wait briefly for the counterparty's
	// answer.
	int received = pr.snapshot().echoes;
	wait_for(pr, std::min(deadline, Clock::now() + std::chrono::seconds(5)), [&] { return pr.ended; });
	return finish(EXIT_DONE, peer::Json().str("event", "done").num("received", received));
}
