//! TEMPORARY: a PKI made with the openssl CLI, until `sansnet cert` lands.

use std::path::PathBuf;
use std::process::Command;

pub(crate) struct Pki {
    pub(crate) dir: tempfile::TempDir,
}

fn run(dir: &std::path::Path, script: &str) {
    let st = Command::new("bash").arg("-ec").arg(script).current_dir(dir).status().unwrap();
    assert!(st.success());
}

impl Pki {
    pub(crate) fn new(clients: &[&str]) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca.pem -subj /CN=testca -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null");
        let mk = |name: &str, cn: &str, ext: &str, ca: &str, days: &str| {
            run(dir.path(), &format!("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}-key.pem -out {name}.csr -subj /CN={cn} 2>/dev/null; printf '{ext}' > {name}.ext; openssl x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}-key.pem -CAcreateserial -out {name}.pem {days} -extfile {name}.ext 2>/dev/null"));
        };
        mk("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\nextendedKeyUsage=serverAuth\\n", "ca", "-days 30");
        for c in clients {
            mk(c, c, "extendedKeyUsage=clientAuth\\n", "ca", "-days 30");
        }
        run(dir.path(), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-key.pem -out other.pem -subj /CN=other -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null");
        mk("stranger", "mallory", "extendedKeyUsage=clientAuth\\n", "other", "-days 30");
        mk("wrongname", "example.invalid", "subjectAltName=DNS:example.invalid\\nextendedKeyUsage=serverAuth\\n", "ca", "-days 30");
        Pki { dir }
    }
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub(crate) fn server(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    pub(crate) fn server_key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }
    pub(crate) fn client(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pem"))
    }
    pub(crate) fn client_key(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-key.pem"))
    }
}
