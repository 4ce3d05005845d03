/*  geak_http.c - minimal HTTP/1.1 server for metrics and health checks
    (see geak_http.h). */
#include "geak_prelude.h"
#include "geak_error.h"
#include "geak_log.h"
#include "geak_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRAIN_MS        1000        //  after the answer: read what the peer still sends
#define DRAIN_MAX       65536
#define TEXT_PLAIN      "text/plain; charset=utf-8"

//  ------------------------------------------------------------ parser

static bool
s_tchar (unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

//  Offset just past the end of the head (blank line), or 0 when none yet.
static size_t
s_head_end (const char *buf, size_t size)
{
    for (size_t i = 0; i + 1 < size; i++) {
        if (buf [i] != '\n')
            continue;
        if (buf [i + 1] == '\n')
            return i + 2;
        if (buf [i + 1] == '\r' && i + 2 < size && buf [i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

//  Next line of [*pos, end): sets *line/*len (without CR LF). false when
//  a bare CR appears (not followed by LF) or no LF ends the line.
static bool
s_next_line (const char *buf, size_t end, size_t *pos, const char **line, size_t *len)
{
    size_t start = *pos;
    for (size_t i = start; i < end; i++) {
        if (buf [i] == '\n') {
            size_t stop = i;
            if (stop > start && buf [stop - 1] == '\r')
                stop--;
            for (size_t j = start; j < stop; j++)
                if (buf [j] == '\r')
                    return false;
            *line = buf + start;
            *len = stop - start;
            *pos = i + 1;
            return true;
        }
    }
    return false;
}

static int
s_parse_request_line (const char *line, size_t len, geak_http_request_t *req)
{
    size_t i = 0;
    while (i < len && s_tchar ((unsigned char) line [i]))
        i++;
    if (i == 0 || i >= sizeof req->method || i >= len || line [i] != ' ')
        return 400;
    memcpy (req->method, line, i);
    req->method [i] = '\0';
    size_t target = ++i;
    while (i < len && (unsigned char) line [i] > 0x20 && (unsigned char) line [i] < 0x7f)
        i++;
    size_t target_len = i - target;
    if (target_len == 0 || i >= len || line [i] != ' ')
        return 400;
    const char *version = line + i + 1;
    size_t version_len = len - i - 1;
    if (version_len != 8 || memcmp (version, "HTTP/", 5) != 0
    ||  version [5] < '0' || version [5] > '9' || version [6] != '.'
    ||  version [7] < '0' || version [7] > '9')
        return 400;
    if (version [5] != '1')
        return 505;
    req->minor = version [7] - '0';
    //  origin-form "/path?query", or absolute-form "http://host/path"
    const char *path = line + target;
    size_t path_len = target_len;
    if (path [0] != '/') {
        const char *scheme_end = NULL;
        for (size_t k = 0; k + 2 < path_len; k++)
            if (path [k] == ':' && path [k + 1] == '/' && path [k + 2] == '/') {
                scheme_end = path + k + 3;
                break;
            }
        if (!scheme_end)
            return 400;
        for (size_t k = 0; path + k < scheme_end - 3; k++)
            if (!((path [k] >= 'a' && path [k] <= 'z') || (path [k] >= 'A' && path [k] <= 'Z')))
                return 400;
        const char *slash = memchr (scheme_end, '/', (size_t) (path + path_len - scheme_end));
        if (!slash) {
            path = "/";
            path_len = 1;
        }
        else {
            path_len -= (size_t) (slash - path);
            path = slash;
        }
    }
    const char *query = memchr (path, '?', path_len);
    if (query)
        path_len = (size_t) (query - path);
    const char *fragment = memchr (path, '#', path_len);
    if (fragment)
        return 400;         //  never sent by a client
    if (path_len > GEAK_HTTP_MAX_PATH)
        return 414;
    memcpy (req->path, path, path_len);
    req->path [path_len] = '\0';
    return 0;
}

static int
s_parse_header (const char *line, size_t len, geak_http_request_t *req)
{
    size_t i = 0;
    while (i < len && s_tchar ((unsigned char) line [i]))
        i++;
    if (i == 0 || i >= len || line [i] != ':')
        return 400;         //  also obs-fold (a line starting with space)
    for (size_t j = i + 1; j < len; j++) {
        unsigned char c = (unsigned char) line [j];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    if (i == 4 && strncasecmp (line, "host", 4) == 0) {
        if (req->has_host)
            return 400;
        req->has_host = true;
    }
    return 0;
}

size_t
geak_http_parse (const char *buf, size_t size, geak_http_request_t *req)
{
    assert (req);
    memset (req, 0, sizeof *req);
    if (!buf)
        return 0;
    size_t scan = size < GEAK_HTTP_MAX_REQUEST ? size : GEAK_HTTP_MAX_REQUEST;
    size_t end = s_head_end (buf, scan);
    if (!end) {
        if (size < GEAK_HTTP_MAX_REQUEST)
            return 0;
        req->status = 431;
        return size;
    }
    if (memchr (buf, '\0', end)) {
        req->status = 400;
        return end;
    }
    size_t pos = 0;
    const char *line;
    size_t len;
    if (!s_next_line (buf, end, &pos, &line, &len)) {
        req->status = 400;
        return end;
    }
    req->status = s_parse_request_line (line, len, req);
    while (req->status == 0) {
        if (!s_next_line (buf, end, &pos, &line, &len)) {
            req->status = 400;
            break;
        }
        if (len == 0)
            break;          //  the blank line
        req->status = s_parse_header (line, len, req);
    }
    if (req->status == 0 && req->minor >= 1 && !req->has_host)
        req->status = 400;
    return end;
}

//  ------------------------------------------------------------ server

typedef enum { CONN_READ, CONN_WRITE, CONN_DRAIN } s_state_t;

typedef struct {
    int fd;
    s_state_t state;
    char *in;
    size_t in_size;
    char *out;
    size_t out_size;
    size_t out_off;
    size_t drained;
    int64_t deadline;
} s_conn_t;

typedef struct {
    char path [GEAK_HTTP_MAX_PATH + 1];
    geak_http_handler_fn *fn;
    void *arg;
    //  built-in routes
    geak_prom_t *registry;
    geak_http_check_fn *check;
    void *check_arg;
} s_route_t;

struct geak_http_t {
    int listener;
    int wake;                   //  eventfd
    int port;
    s_route_t routes [GEAK_HTTP_MAX_ROUTES];
    size_t nroutes;
    s_conn_t conns [GEAK_HTTP_MAX_CONNECTIONS];
    size_t nconns;
    pthread_t thread;
    bool started;
    int timeout_ms;
    int stop;                   //  atomic
    uint64_t served;            //  atomic
    uint64_t rejected;          //  atomic
};

static const char *
s_reason (int status)
{
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default:  return "Unknown";
    }
}

//  Turn the connection into a writer of this response (takes body).
static void
s_respond (s_conn_t *conn, int status, const char *content_type, char *body, size_t size,
           bool head_only)
{
    char header [512];
    int n = snprintf (header, sizeof header,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n"
                      "%s"
                      "Connection: close\r\n\r\n",
                      status, s_reason (status), content_type ? content_type : TEXT_PLAIN, size,
                      status == 405 ? "Allow: GET, HEAD\r\n" : "");
    assert (n > 0 && (size_t) n < sizeof header);
    size_t body_size = head_only ? 0 : size;
    free (conn->out);
    conn->out = geak_malloc0 ((size_t) n + body_size + 1);
    memcpy (conn->out, header, (size_t) n);
    if (body_size)
        memcpy (conn->out + n, body, body_size);
    conn->out_size = (size_t) n + body_size;
    conn->out_off = 0;
    conn->state = CONN_WRITE;
    free (body);
}

static void
s_respond_error (geak_http_t *self, s_conn_t *conn, int status, bool head_only)
{
    char *body = NULL;
    if (asprintf (&body, "%d %s\n", status, s_reason (status)) < 0)
        body = NULL;
    __atomic_fetch_add (&self->rejected, 1, __ATOMIC_RELAXED);
    s_respond (conn, status, TEXT_PLAIN, body, body ? strlen (body) : 0, head_only);
}

static void
s_dispatch (geak_http_t *self, s_conn_t *conn, const geak_http_request_t *req)
{
    bool head_only = strcmp (req->method, "HEAD") == 0;
    if (req->status) {
        s_respond_error (self, conn, req->status, false);
        return;
    }
    if (strcmp (req->method, "GET") != 0 && !head_only) {
        s_respond_error (self, conn, 405, false);
        return;
    }
    for (size_t i = 0; i < self->nroutes; i++) {
        s_route_t *route = &self->routes [i];
        if (strcmp (route->path, req->path) != 0)
            continue;
        char *body = NULL;
        size_t size = 0;
        const char *content_type = NULL;
        int status = route->fn (route->arg, &body, &size, &content_type);
        if (status < 100 || status > 599) {
            free (body);
            body = NULL;
            size = 0;
            status = 500;
        }
        __atomic_fetch_add (&self->served, 1, __ATOMIC_RELAXED);
        s_respond (conn, status, content_type, body, body ? size : 0, head_only);
        return;
    }
    s_respond_error (self, conn, 404, head_only);
}

static void
s_conn_close (geak_http_t *self, size_t index)
{
    s_conn_t *conn = &self->conns [index];
    close (conn->fd);
    free (conn->in);
    free (conn->out);
    self->conns [index] = self->conns [--self->nconns];
    memset (&self->conns [self->nconns], 0, sizeof (s_conn_t));
}

//  Returns false when the connection is finished and must be closed.
static bool
s_conn_read (geak_http_t *self, s_conn_t *conn)
{
    if (conn->state == CONN_DRAIN) {
        char sink [4096];
        ssize_t n = recv (conn->fd, sink, sizeof sink, 0);
        if (n > 0) {
            conn->drained += (size_t) n;
            return conn->drained < DRAIN_MAX;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
    ssize_t n = recv (conn->fd, conn->in + conn->in_size, GEAK_HTTP_MAX_REQUEST - conn->in_size, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        return false;       //  peer gave up before a whole request
    conn->in_size += (size_t) n;
    geak_http_request_t req;
    size_t used = geak_http_parse (conn->in, conn->in_size, &req);
    if (used == 0)
        return true;        //  more to come
    s_dispatch (self, conn, &req);
    return true;
}

static bool
s_conn_write (s_conn_t *conn)
{
    while (conn->out_off < conn->out_size) {
        ssize_t n = send (conn->fd, conn->out + conn->out_off, conn->out_size - conn->out_off,
                          MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        conn->out_off += (size_t) n;
    }
    //  All sent: half-close, then read what the peer still sends so that
    //  closing does not reset the connection under its feet
    shutdown (conn->fd, SHUT_WR);
    conn->state = CONN_DRAIN;
    conn->deadline = geak_clock_mono_ms () + DRAIN_MS;
    return true;
}

static void
s_accept (geak_http_t *self)
{
    while (self->nconns < GEAK_HTTP_MAX_CONNECTIONS) {
        int fd = accept4 (self->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;         //  EAGAIN, or a connection that died in the backlog
        s_conn_t *conn = &self->conns [self->nconns++];
        memset (conn, 0, sizeof *conn);
        conn->fd = fd;
        conn->state = CONN_READ;
        conn->in = geak_malloc0 (GEAK_HTTP_MAX_REQUEST + 1);
        conn->deadline = geak_clock_mono_ms () + self->timeout_ms;
    }
}

static void *
s_thread (void *arg)
{
    geak_http_t *self = arg;
    struct pollfd fds [2 + GEAK_HTTP_MAX_CONNECTIONS];
    while (!__atomic_load_n (&self->stop, __ATOMIC_ACQUIRE)) {
        int64_t now = geak_clock_mono_ms ();
        int64_t wait = 1000;
        size_t nfds = 0;
        fds [nfds++] = (struct pollfd) { self->wake, POLLIN, 0 };
        bool listening = self->nconns < GEAK_HTTP_MAX_CONNECTIONS;
        fds [nfds++] = (struct pollfd) { listening ? self->listener : -1, POLLIN, 0 };
        for (size_t i = 0; i < self->nconns; i++) {
            s_conn_t *conn = &self->conns [i];
            fds [nfds++] = (struct pollfd) {
                conn->fd, conn->state == CONN_WRITE ? POLLOUT : POLLIN, 0 };
            if (conn->deadline - now < wait)
                wait = conn->deadline - now;
        }
        if (wait < 0)
            wait = 0;
        int rc = poll (fds, nfds, (int) wait);
        if (rc < 0 && errno != EINTR) {
            geak_error ("http_poll_failed", "errno=%d", errno);
            break;
        }
        if (rc > 0 && (fds [0].revents & POLLIN)) {
            uint64_t value;
            if (read (self->wake, &value, sizeof value) < 0)
                geak_debug ("http_wake_read", "errno=%d", errno);
        }
        //  connections first (indexes match fds [2..]); walk backwards as
        //  closing moves the last connection into the freed slot
        now = geak_clock_mono_ms ();
        size_t count = self->nconns;
        for (size_t k = count; k-- > 0;) {
            s_conn_t *conn = &self->conns [k];
            short revents = rc > 0 ? fds [2 + k].revents : 0;
            bool keep = true;
            if (revents & (POLLERR | POLLNVAL))
                keep = false;
            else
            if (conn->state == CONN_WRITE && (revents & (POLLOUT | POLLHUP)))
                keep = s_conn_write (conn);
            else
            if (conn->state != CONN_WRITE && (revents & (POLLIN | POLLHUP))) {
                keep = s_conn_read (self, conn);
                if (keep && conn->state == CONN_WRITE)
                    keep = s_conn_write (conn);
            }
            if (keep && now >= conn->deadline) {
                if (conn->state == CONN_READ) {
                    s_respond_error (self, conn, 408, false);
                    conn->deadline = now + DRAIN_MS;
                    keep = s_conn_write (conn);
                }
                else
                    keep = false;
            }
            if (!keep)
                s_conn_close (self, k);
        }
        if (rc > 0 && listening && (fds [1].revents & POLLIN))
            s_accept (self);
    }
    return NULL;
}

//  ------------------------------------------------------------ API

static geak_rc_t
s_split_bind (const char *bind, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr (bind, ':');
    if (!colon || colon [1] == '\0' || strlen (colon + 1) >= port_size)
        return GEAK_E_CONFIG;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return GEAK_E_CONFIG;
    long number = strtol (colon + 1, NULL, 10);
    if (number > 65535)
        return GEAK_E_CONFIG;
    snprintf (port, port_size, "%s", colon + 1);
    const char *start = bind;
    size_t len = (size_t) (colon - bind);
    if (len >= 2 && start [0] == '[' && start [len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len >= host_size)
        return GEAK_E_CONFIG;
    memcpy (host, start, len);
    host [len] = '\0';
    if (strcmp (host, "*") == 0)
        host [0] = '\0';
    return GEAK_OK;
}

geak_http_t *
geak_http_new (const char *address, geak_rc_t *rc)
{
    geak_rc_t dummy;
    if (!rc)
        rc = &dummy;
    char host [256], port [8];
    if (!address || s_split_bind (address, host, sizeof host, port, sizeof port) != GEAK_OK) {
        geak_error ("http_bad_bind", "bind=%s", address ? address : "(null)");
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    struct addrinfo hints = { 0 }, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo (host [0] ? host : NULL, port, &hints, &list);
    if (gai != 0) {
        geak_error ("http_bad_bind", "bind=%s error=\"%s\"", address, gai_strerror (gai));
        *rc = GEAK_E_CONFIG;
        return NULL;
    }
    int listener = -1;
    int saved_errno = 0;
    for (struct addrinfo *ai = list; ai && listener < 0; ai = ai->ai_next) {
        int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen (fd, 64) == 0)
            listener = fd;
        else {
            saved_errno = errno;
            close (fd);
        }
    }
    freeaddrinfo (list);
    if (listener < 0) {
        geak_error ("http_listen_failed", "bind=%s error=\"%s\"", address, strerror (saved_errno));
        *rc = GEAK_E_IO;
        return NULL;
    }
    geak_http_t *self = geak_malloc0 (sizeof *self);
    self->listener = listener;
    self->timeout_ms = GEAK_HTTP_TIMEOUT_MS;
    self->wake = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    if (self->wake < 0 || getsockname (listener, (struct sockaddr *) &addr, &addr_len) != 0) {
        *rc = GEAK_E_IO;
        geak_http_destroy (&self);
        return NULL;
    }
    self->port = addr.ss_family == AF_INET6
               ? ntohs (((struct sockaddr_in6 *) &addr)->sin6_port)
               : ntohs (((struct sockaddr_in *) &addr)->sin_port);
    *rc = GEAK_OK;
    return self;
}

void
geak_http_destroy (geak_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    geak_http_t *self = *self_p;
    if (self->started) {
        __atomic_store_n (&self->stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write (self->wake, &one, sizeof one) < 0)
            geak_debug ("http_wake_write", "errno=%d", errno);
        pthread_join (self->thread, NULL);
    }
    while (self->nconns)
        s_conn_close (self, self->nconns - 1);
    if (self->listener >= 0)
        close (self->listener);
    if (self->wake >= 0)
        close (self->wake);
    free (self);
    *self_p = NULL;
}

int
geak_http_port (const geak_http_t *self)
{
    assert (self);
    return self->port;
}

static geak_rc_t
s_add_route (geak_http_t *self, const char *path, geak_http_handler_fn *fn, void *arg,
             s_route_t **route_p)
{
    if (!self || !path || path [0] != '/' || strlen (path) > GEAK_HTTP_MAX_PATH || !fn
    ||  self->started || self->nroutes == GEAK_HTTP_MAX_ROUTES)
        return GEAK_E_INVALID;
    s_route_t *route = &self->routes [self->nroutes++];
    memset (route, 0, sizeof *route);
    snprintf (route->path, sizeof route->path, "%s", path);
    route->fn = fn;
    route->arg = arg;
    if (route_p)
        *route_p = route;
    return GEAK_OK;
}

geak_rc_t
geak_http_route (geak_http_t *self, const char *path, geak_http_handler_fn *fn, void *arg)
{
    return s_add_route (self, path, fn, arg, NULL);
}

static int
s_metrics_handler (void *arg, char **body, size_t *size, const char **content_type)
{
    s_route_t *route = arg;
    *body = geak_prom_render (route->registry, size);
    *content_type = GEAK_PROM_CONTENT_TYPE;
    return *body ? 200 : 500;
}

static int
s_check_handler (void *arg, char **body, size_t *size, const char **content_type)
{
    s_route_t *route = arg;
    char why [256] = "";
    bool ok = route->check ? route->check (route->check_arg, why, sizeof why) : true;
    if (asprintf (body, "%s%s%s\n", ok ? "ok" : "not ready", why [0] ? ": " : "", why) < 0)
        *body = NULL;
    *size = *body ? strlen (*body) : 0;
    *content_type = TEXT_PLAIN;
    return ok ? 200 : 503;
}

geak_rc_t
geak_http_route_metrics (geak_http_t *self, const char *path, geak_prom_t *registry)
{
    if (!registry)
        return GEAK_E_INVALID;
    s_route_t *route = NULL;
    geak_rc_t rc = s_add_route (self, path, s_metrics_handler, NULL, &route);
    if (rc == GEAK_OK) {
        route->registry = registry;
        route->arg = route;
    }
    return rc;
}

geak_rc_t
geak_http_route_check (geak_http_t *self, const char *path, geak_http_check_fn *fn, void *arg)
{
    s_route_t *route = NULL;
    geak_rc_t rc = s_add_route (self, path, s_check_handler, NULL, &route);
    if (rc == GEAK_OK) {
        route->check = fn;
        route->check_arg = arg;
        route->arg = route;
    }
    return rc;
}

void
geak_http_set_timeout (geak_http_t *self, int timeout_ms)
{
    assert (self);
    if (!self->started && timeout_ms >= 1)
        self->timeout_ms = timeout_ms;
}

geak_rc_t
geak_http_start (geak_http_t *self)
{
    if (!self || self->started)
        return GEAK_E_INVALID;
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0)
        return GEAK_E_INTERNAL;
    self->started = true;
    return GEAK_OK;
}

uint64_t
geak_http_served (const geak_http_t *self)
{
    return self ? __atomic_load_n (&self->served, __ATOMIC_RELAXED) : 0;
}

uint64_t
geak_http_rejected (const geak_http_t *self)
{
    return self ? __atomic_load_n (&self->rejected, __ATOMIC_RELAXED) : 0;
}

//  ------------------------------------------------------------ selftest

#include <arpa/inet.h>

//  Connect, send, read the whole answer (until the server closes).
static char *
s_exchange (int port, const char *request, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert (fd >= 0);
    struct sockaddr_in addr = { 0 };
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
    assert (rc == 0);
    struct timeval tv = { 10, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send (fd, request + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;      //  the server may answer and close before taking everything
        sent += (size_t) n;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = geak_malloc0 (cap + 1);
    while (len < cap) {
        ssize_t n = recv (fd, out + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    close (fd);
    return out;
}

static int
s_status_of (const char *response)
{
    int status = 0;
    if (sscanf (response, "HTTP/1.1 %d ", &status) != 1)
        return -1;
    return status;
}

static bool
s_test_ready (void *arg, char *why, size_t why_size)
{
    bool ready = __atomic_load_n ((int *) arg, __ATOMIC_RELAXED);
    if (!ready)
        snprintf (why, why_size, "not registered");
    return ready;
}

static int
s_test_echo (void *arg, char **body, size_t *size, const char **content_type)
{
    *body = geak_strdup ((const char *) arg);
    *size = strlen (*body);
    *content_type = "text/x-test";
    return 200;
}

int
geak_http_test (bool verbose)
{
    int saved = geak_log_level_current;
    if (!verbose)
        geak_log_set_level (GEAK_LOG_OFF);
    geak_http_request_t req;

    //  parser
    const char *good = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
    GEAK_CHECK (geak_http_parse (good, strlen (good), &req) == strlen (good));
    GEAK_CHECK (req.status == 0 && strcmp (req.method, "GET") == 0 && strcmp (req.path, "/metrics") == 0);
    GEAK_CHECK (geak_http_parse (good, 20, &req) == 0);
    const char *lf = "GET / HTTP/1.0\n\n";
    GEAK_CHECK (geak_http_parse (lf, strlen (lf), &req) == strlen (lf) && req.status == 0);
    const char *absolute = "GET http://h:1/readyz HTTP/1.1\r\nHost: h\r\n\r\n";
    GEAK_CHECK (geak_http_parse (absolute, strlen (absolute), &req) && req.status == 0);
    GEAK_CHECK (strcmp (req.path, "/readyz") == 0);
    struct { const char *text; int status; } cases [] = {
        { "GET /x HTTP/1.1\r\n\r\n", 400 },                 //  no Host
        { "GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
        { "GET /x HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
        { "GET  /x HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
        { "GET /x\r\n\r\n", 400 },
        { "G@T /x HTTP/1.0\r\n\r\n", 400 },
        { "GET x HTTP/1.0\r\n\r\n", 400 },
        { "GET /x HTTP/1.0\r\nBad Header: 1\r\n\r\n", 400 },
        { "GET /x HTTP/1.0\r\n folded\r\n\r\n", 400 },
        { "GET /x HTTP/1.0\r\nA: b\rc\r\n\r\n", 400 },
        { "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
        { "\r\n\r\n", 400 },
        { "POST /x HTTP/1.0\r\n\r\n", 0 },                  //  method judged by the server
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        size_t used = geak_http_parse (cases [i].text, strlen (cases [i].text), &req);
        if (verbose)
            fprintf (stderr, "case %zu: used=%zu status=%d\n", i, used, req.status);
        GEAK_CHECK (used == strlen (cases [i].text) && req.status == cases [i].status);
    }
    char *big = geak_malloc0 (GEAK_HTTP_MAX_REQUEST + 10);
    memset (big, 'a', GEAK_HTTP_MAX_REQUEST + 9);
    GEAK_CHECK (geak_http_parse (big, GEAK_HTTP_MAX_REQUEST + 9, &req) && req.status == 431);
    char *long_path = geak_malloc0 (GEAK_HTTP_MAX_PATH + 64);
    snprintf (long_path, GEAK_HTTP_MAX_PATH + 64, "GET /%0*d HTTP/1.0\r\n\r\n", GEAK_HTTP_MAX_PATH, 0);
    GEAK_CHECK (geak_http_parse (long_path, strlen (long_path), &req) && req.status == 414);
    free (long_path);

    //  bad binds
    geak_rc_t rc;
    GEAK_CHECK (!geak_http_new ("nonsense", &rc) && rc == GEAK_E_CONFIG);
    GEAK_CHECK (!geak_http_new ("127.0.0.1:99999", &rc) && rc == GEAK_E_CONFIG);
    GEAK_CHECK (!geak_http_new ("127.0.0.1:", &rc) && rc == GEAK_E_CONFIG);

    //  a server with metrics, a check and a custom route
    geak_prom_t *reg = geak_prom_new ();
    geak_prom_inc_with (geak_prom_counter (reg, "geak_http_test_total", "Test.", NULL), NULL);
    geak_http_t *http = geak_http_new ("127.0.0.1:0", &rc);
    GEAK_CHECK (http && rc == GEAK_OK && geak_http_port (http) > 0);
    int ready = 0;
    GEAK_CHECK (geak_http_route_metrics (http, "/metrics", reg) == GEAK_OK);
    GEAK_CHECK (geak_http_route_check (http, "/healthz", NULL, NULL) == GEAK_OK);
    GEAK_CHECK (geak_http_route_check (http, "/readyz", s_test_ready, &ready) == GEAK_OK);
    GEAK_CHECK (geak_http_route (http, "/echo", s_test_echo, "hello") == GEAK_OK);
    GEAK_CHECK (geak_http_route (http, "relative", s_test_echo, "x") == GEAK_E_INVALID);
    GEAK_CHECK (geak_http_start (http) == GEAK_OK);
    GEAK_CHECK (geak_http_route (http, "/late", s_test_echo, "x") == GEAK_E_INVALID);
    int port = geak_http_port (http);

    char *out = s_exchange (port, good, strlen (good));
    GEAK_CHECK (s_status_of (out) == 200);
    GEAK_CHECK (strstr (out, "Content-Type: " GEAK_PROM_CONTENT_TYPE "\r\n"));
    GEAK_CHECK (strstr (out, "\r\n\r\n# HELP geak_http_test_total Test.\n"));
    GEAK_CHECK (strstr (out, "geak_http_test_total 1\n"));
    free (out);
    const char *health = "GET /healthz HTTP/1.0\r\n\r\n";
    out = s_exchange (port, health, strlen (health));
    GEAK_CHECK (s_status_of (out) == 200 && strstr (out, "\r\n\r\nok\n"));
    free (out);
    const char *readyz = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    out = s_exchange (port, readyz, strlen (readyz));
    GEAK_CHECK (s_status_of (out) == 503 && strstr (out, "not ready: not registered\n"));
    free (out);
    __atomic_store_n (&ready, 1, __ATOMIC_RELAXED);
    out = s_exchange (port, readyz, strlen (readyz));
    GEAK_CHECK (s_status_of (out) == 200);
    free (out);
    const char *head = "HEAD /echo HTTP/1.0\r\n\r\n";
    out = s_exchange (port, head, strlen (head));
    GEAK_CHECK (s_status_of (out) == 200 && strstr (out, "Content-Length: 5\r\n"));
    GEAK_CHECK (strstr (out, "\r\n\r\n") [4] == '\0');
    free (out);
    struct { const char *text; int status; } wire [] = {
        { "GET /nowhere HTTP/1.0\r\n\r\n", 404 },
        { "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", 405 },
        { "DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405 },
        { "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n", 400 },
        { "GET / HTTP/9.9\r\n\r\n", 505 },
    };
    for (size_t i = 0; i < sizeof wire / sizeof wire [0]; i++) {
        out = s_exchange (port, wire [i].text, strlen (wire [i].text));
        if (verbose)
            fprintf (stderr, "wire %zu: %.40s\n", i, out);
        GEAK_CHECK (s_status_of (out) == wire [i].status);
        if (wire [i].status == 405)
            GEAK_CHECK (strstr (out, "Allow: GET, HEAD\r\n"));
        free (out);
    }
    static const char nul [] = "GET /healthz\0 HTTP/1.0\r\n\r\n";
    out = s_exchange (port, nul, sizeof nul - 1);
    GEAK_CHECK (s_status_of (out) == 400);
    free (out);
    out = s_exchange (port, big, GEAK_HTTP_MAX_REQUEST + 9);
    GEAK_CHECK (s_status_of (out) == 431);
    free (out);
    free (big);
    //  a peer that connects and closes at once, then one still served
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { 0 };
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    GEAK_CHECK (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    close (fd);
    out = s_exchange (port, health, strlen (health));
    GEAK_CHECK (s_status_of (out) == 200);
    free (out);
    GEAK_CHECK (geak_http_served (http) >= 6 && geak_http_rejected (http) >= 6);
    geak_http_destroy (&http);
    geak_http_destroy (&http);

    //  a request head that never ends: 408 at the timeout
    http = geak_http_new ("127.0.0.1:0", &rc);
    GEAK_CHECK (http);
    geak_http_set_timeout (http, 200);
    GEAK_CHECK (geak_http_route_check (http, "/healthz", NULL, NULL) == GEAK_OK);
    GEAK_CHECK (geak_http_start (http) == GEAK_OK);
    const char *partial = "GET /healthz HTTP/1.0\r\n";
    out = s_exchange (geak_http_port (http), partial, strlen (partial));
    GEAK_CHECK (s_status_of (out) == 408);
    free (out);
    geak_http_destroy (&http);
    geak_prom_destroy (&reg);
    geak_log_set_level ((geak_log_level_t) saved);
    return 0;
}
