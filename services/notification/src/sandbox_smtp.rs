//! A small real SMTP server for the embedded marketplace and tests: it speaks SMTP over TCP
//! (EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT), keeps received messages in memory,
//! and can be told to refuse the next messages with a 4xx or 5xx reply.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sink = notification::sandbox_smtp::SmtpSink::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?);
//! println!("smtp url: {}", sink.url());
//! sink.fail_next(1, 451); // the next message gets "451 4.3.0 ..."
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Largest accepted message.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest accepted command line.
const MAX_LINE_BYTES: usize = 4096;

/// A message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Envelope sender (`MAIL FROM`).
    pub from: String,
    /// Envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The raw message (headers and body, dot-stuffing removed, CRLF line ends).
    pub data: String,
    /// When it was accepted.
    pub received_at: SystemTime,
}

impl ReceivedMessage {
    /// The first value of header `name` (case-insensitive, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(head(&self.data), name)
    }

    /// The decoded `Subject` header (RFC 2047 encoded words decoded).
    pub fn subject(&self) -> Option<String> {
        self.header("subject").map(|s| decode_encoded_words(&s))
    }

    /// The decoded `text/plain` part (or the whole body of a single-part message).
    pub fn text(&self) -> Option<String> {
        self.part("text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html(&self) -> Option<String> {
        self.part("text/html")
    }

    fn part(&self, content_type: &str) -> Option<String> {
        let top_type = self
            .header("content-type")
            .unwrap_or_else(|| "text/plain".into());
        if !top_type.to_ascii_lowercase().starts_with("multipart/") {
            return top_type
                .to_ascii_lowercase()
                .starts_with(content_type)
                .then(|| decode_body(&self.data));
        }
        let boundary = param(&top_type, "boundary")?;
        let delimiter = format!("--{boundary}");
        self.data
            .split(delimiter.as_str())
            .skip(1)
            .find_map(|part| {
                let part = part.trim_start_matches("\r\n");
                let ct = header_in(head(part), "content-type").unwrap_or_default();
                ct.to_ascii_lowercase()
                    .starts_with(content_type)
                    .then(|| decode_body(part))
            })
    }
}

fn head(data: &str) -> &str {
    data.split("\r\n\r\n").next().unwrap_or("")
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            return value;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.trim().eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_string());
        }
    }
    value
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn decode_body(part: &str) -> String {
    let (h, body) = part.split_once("\r\n\r\n").unwrap_or(("", part));
    let body = body.trim_end_matches("\r\n");
    match header_in(h, "content-transfer-encoding")
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("quoted-printable") => decode_quoted_printable(body),
        Some("base64") => {
            let compact: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
        _ => body.to_string(),
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_encoded_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let between = &rest[..start];
        if !(last_was_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        let after = &rest[start + 2..];
        let parts: Vec<&str> = after.splitn(3, '?').collect();
        if parts.len() < 3 {
            out.push_str(&rest[start..]);
            return out;
        }
        let (encoding, tail) = (parts[1], parts[2]);
        let Some(end) = tail.find("?=") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = &tail[..end];
        let decoded = match encoding.to_ascii_lowercase().as_str() {
            "b" => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => decode_quoted_printable(&text.replace('_', " ")),
        };
        out.push_str(&decoded);
        rest = &tail[end + 2..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Default)]
struct Inner {
    messages: Mutex<Vec<ReceivedMessage>>,
    failures: Mutex<VecDeque<u16>>,
    received: Notify,
}

/// A running SMTP sink; cloning shares it. Stops when [`SmtpSink::stop`] is called.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl SmtpSink {
    /// Serves SMTP on `listener` (bind `127.0.0.1:0` for tests) until [`SmtpSink::stop`].
    pub fn start(listener: TcpListener) -> SmtpSink {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let inner = Arc::new(Inner::default());
        let shutdown = CancellationToken::new();
        let sink = SmtpSink {
            inner: inner.clone(),
            addr,
            shutdown: shutdown.clone(),
        };
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let inner = inner.clone();
                        let shutdown = shutdown.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = shutdown.cancelled() => {}
                                result = session(stream, &inner) => {
                                    if let Err(error) = result {
                                        tracing::debug!(%error, "smtp sink session ended with an error");
                                    }
                                }
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "smtp sink accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        sink
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://host:port` for the notification service's `smtp.url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.inner
            .messages
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Messages to `recipient`.
    pub fn messages_to(&self, recipient: &str) -> Vec<ReceivedMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(recipient)))
            .collect()
    }

    /// Forgets the received messages.
    pub fn clear(&self) {
        if let Ok(mut m) = self.inner.messages.lock() {
            m.clear();
        }
    }

    /// Refuses the next `n` messages (at the end of DATA) with reply `code`, e.g. 451
    /// (transient) or 550 (permanent).
    pub fn fail_next(&self, n: usize, code: u16) {
        if let Ok(mut f) = self.inner.failures.lock() {
            f.extend(std::iter::repeat_n(code, n));
        }
    }

    /// Waits until at least `n` messages were accepted, or `timeout` passed; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.received.notified();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.messages();
            }
        }
    }

    /// Stops accepting connections and ends open sessions.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

fn reply_text(code: u16) -> String {
    match code {
        400..=499 => format!("{code} 4.3.0 temporary failure (injected)"),
        _ => format!("{code} 5.7.1 message rejected (injected)"),
    }
}

async fn session(stream: TcpStream, inner: &Inner) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sandbox-smtp ESMTP ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::io::AsyncReadExt::take(&mut reader, MAX_LINE_BYTES as u64)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: String = match verb {
            "EHLO" => "250-sandbox-smtp\r\n250-8BITMIME\r\n250 SIZE 10485760".into(),
            "HELO" => "250 sandbox-smtp".into(),
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                from = Some(address(&command[10..]));
                to.clear();
                "250 2.1.0 ok".into()
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if from.is_none() {
                    "503 5.5.1 MAIL first".into()
                } else {
                    to.push(address(&command[8..]));
                    "250 2.1.5 ok".into()
                }
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    "503 5.5.1 RCPT first".into()
                } else {
                    write
                        .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(&mut reader).await?;
                    let failure = inner.failures.lock().ok().and_then(|mut f| f.pop_front());
                    let reply = match (data, failure) {
                        (None, _) => "552 5.3.4 message too big".to_string(),
                        (Some(_), Some(code)) => reply_text(code),
                        (Some(data), None) => {
                            let message = ReceivedMessage {
                                from: from.clone().unwrap_or_default(),
                                to: std::mem::take(&mut to),
                                data,
                                received_at: SystemTime::now(),
                            };
                            if let Ok(mut m) = inner.messages.lock() {
                                m.push(message);
                            }
                            inner.received.notify_waiters();
                            "250 2.0.0 queued".to_string()
                        }
                    };
                    from = None;
                    to.clear();
                    reply
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "VRFY" => "252 2.5.2 cannot verify".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inside = arg
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(a, _)| a)
        .unwrap_or(arg);
    inside.split_whitespace().next().unwrap_or("").to_string()
}

/// Reads DATA until `.` alone on a line; `None` when the message is too big (still consumed).
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    let mut too_big = false;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in DATA",
            ));
        }
        let content = line.trim_end_matches(['\r', '\n']);
        if content == "." {
            break;
        }
        if too_big {
            continue;
        }
        let content = content.strip_prefix('.').unwrap_or(content);
        data.push_str(content);
        data.push_str("\r\n");
        if data.len() > MAX_MESSAGE_BYTES {
            too_big = true;
            data.clear();
        }
    }
    Ok(if too_big { None } else { Some(data) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_mime_pieces() {
        assert_eq!(decode_quoted_printable("a=3Db=\r\nc"), "a=bc");
        assert_eq!(
            decode_encoded_words("=?utf-8?b?SGFsbG8=?= =?utf-8?q?W=C3=B6rld?="),
            "HalloWörld"
        );
        assert_eq!(address(" <a@b.example> SIZE=10"), "a@b.example");
    }
}
