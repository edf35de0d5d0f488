//! What ikepeer tells its user: one line per event on stdout (JSON with `--events json`,
//! `name key=value ...` otherwise), and the Wireshark key log.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// Prints events.
#[derive(Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints event `name` with `fields` (a JSON object) as one line, and flushes.
    pub fn emit(&self, name: &str, fields: Value) {
        let mut object = Map::new();
        object.insert("event".to_owned(), Value::from(name));
        if let Value::Object(f) = fields {
            object.extend(f);
        }
        let line = if self.json {
            Value::Object(object).to_string()
        } else {
            let mut line = name.to_owned();
            for (k, v) in object.iter().skip(1) {
                match v {
                    Value::String(s) => line.push_str(&format!(" {k}={s}")),
                    other => line.push_str(&format!(" {k}={other}")),
                }
            }
            line
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// An `error` event.
    pub fn error(&self, message: impl std::fmt::Display) {
        self.emit("error", json!({ "message": message.to_string() }));
    }
}

/// The Wireshark tables, kept in a directory that tshark can use as its configuration
/// directory (`WIRESHARK_CONFIG_DIR`): `ikev1_decryption_table`, `ikev2_decryption_table`,
/// `esp_sa` and `preferences` (ESP decryption and ICV check on).
#[derive(Debug)]
pub struct Keylog {
    dir: PathBuf,
    ikev1: Vec<Zeroizing<String>>,
    ikev2: Vec<Zeroizing<String>>,
    esp: Vec<Zeroizing<String>>,
}

impl Keylog {
    /// Creates the directory and writes empty tables.
    pub fn create(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let k = Self { dir, ikev1: Vec::new(), ikev2: Vec::new(), esp: Vec::new() };
        k.write()?;
        Ok(k)
    }

    pub fn add_ikev1(&mut self, line: Zeroizing<String>) -> std::io::Result<()> {
        if !self.ikev1.contains(&line) {
            self.ikev1.push(line);
        }
        self.write()
    }

    pub fn add_ikev2(&mut self, line: Zeroizing<String>) -> std::io::Result<()> {
        if !self.ikev2.contains(&line) {
            self.ikev2.push(line);
        }
        self.write()
    }

    pub fn add_esp(&mut self, line: String) -> std::io::Result<()> {
        let line = Zeroizing::new(line);
        if !self.esp.contains(&line) {
            self.esp.push(line);
        }
        self.write()
    }

    fn write(&self) -> std::io::Result<()> {
        use l2sec_ike::keylog::{IKEV1_DECRYPTION_TABLE, IKEV2_DECRYPTION_TABLE, UAT_HEADER};
        let table = |lines: &[Zeroizing<String>]| {
            let mut s = Zeroizing::new(format!("{UAT_HEADER}\n"));
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
            s
        };
        std::fs::write(self.dir.join(IKEV1_DECRYPTION_TABLE), table(&self.ikev1).as_bytes())?;
        std::fs::write(self.dir.join(IKEV2_DECRYPTION_TABLE), table(&self.ikev2).as_bytes())?;
        std::fs::write(self.dir.join("esp_sa"), table(&self.esp).as_bytes())?;
        std::fs::write(
            self.dir.join("preferences"),
            "# written by ikepeer\nesp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n",
        )
    }
}
