//! Shared inputs for the criterion benches in `benches/benches/`.
//!
//! [`REQ`] and [`REQ_SHORT`] are byte for byte the request inputs of
//! httparse's own `benches/parse.rs` (httparse 1.10.1), so figures compare
//! with httparse's published ones and with `HTTP-NOTES.md` §1.

pub mod tls;

/// httparse's `REQ`: 720 bytes, `GET` of a JPEG with 9 fields (Host,
/// a Firefox 3.6 User-Agent, Accept, Accept-Language, Accept-Encoding,
/// Accept-Charset, Keep-Alive, Connection and a ~250-byte Cookie).
pub const REQ: &[u8] = b"\
GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n\
Host: www.kittyhell.com\r\n\
User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n\
Accept-Encoding: gzip,deflate\r\n\
Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n\
Keep-Alive: 115\r\n\
Connection: keep-alive\r\n\
Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral|padding=under256\r\n\r\n";

/// httparse's `REQ_SHORT`: 68 bytes, an HTTP/1.0 `GET /` with Host and
/// Cookie.
pub const REQ_SHORT: &[u8] = b"\
GET / HTTP/1.0\r\n\
Host: example.com\r\n\
Cookie: session=60; user_id=1\r\n\r\n";

/// What the load generators (`ws-loadgen`, `conns-loadgen`) share.
pub mod load {
    use std::io;

    use tokio::net::TcpStream;

    /// Writes all of `bytes` to `sock`, waiting for writability as needed.
    pub async fn write_all(sock: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            sock.writable().await?;
            match sock.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The nearest-rank percentile `q` (0..=1) of `sorted`, 0 when empty.
    pub fn percentile(sorted: &[u64], q: f64) -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn percentiles_are_nearest_rank() {
            let v: Vec<u64> = (1..=1000).collect();
            assert_eq!(super::percentile(&v, 0.5), 500);
            assert_eq!(super::percentile(&v, 0.99), 990);
            assert_eq!(super::percentile(&v, 0.999), 999);
            assert_eq!(super::percentile(&[], 0.5), 0);
        }
    }
}
