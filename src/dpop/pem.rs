//! The DER inside a private key's PEM armour (RFC 7468), and which of the
//! usual forms the label says it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;

use super::jose::invalid;
use crate::Error;

/// The form a PEM label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `EC PRIVATE KEY`: SEC1, the traditional form of an EC key.
    Sec1,
    /// `RSA PRIVATE KEY`: PKCS#1, the traditional form of an RSA key.
    Pkcs1,
}

/// The first private key block of `pem`: its form and its DER (zeroed when
/// dropped, like the base64 it was read from). Blocks before it, such as
/// the `EC PARAMETERS` some tools put before an EC key, are skipped.
pub(super) fn private_key_der(pem: &[u8]) -> Result<(Form, Zeroizing<Vec<u8>>), Error> {
    let text = std::str::from_utf8(pem).map_err(|_| invalid("the PEM is not text"))?;
    let mut lines = text.lines().map(str::trim);
    let label = lines
        .by_ref()
        .find_map(|line| {
            let label = line.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
            label.ends_with("PRIVATE KEY").then_some(label)
        })
        .ok_or_else(|| invalid("expected a PEM private key (BEGIN PRIVATE KEY)"))?;
    let form = match label {
        "PRIVATE KEY" => Form::Pkcs8,
        "EC PRIVATE KEY" => Form::Sec1,
        "RSA PRIVATE KEY" => Form::Pkcs1,
        "ENCRYPTED PRIVATE KEY" => return Err(invalid("the PEM is encrypted; decrypt it first")),
        _ => return Err(invalid("the PEM holds no private key this crate reads")),
    };
    let end = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::new());
    for line in lines.by_ref() {
        if line == end {
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| invalid("the PEM body is not base64"))?;
            return Ok((form, Zeroizing::new(der)));
        }
        if line.contains(':') {
            // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`): an old-style
            // encrypted key.
            return Err(invalid("the PEM is encrypted; decrypt it first"));
        }
        body.push_str(line);
    }
    Err(invalid("the PEM private key has no END line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_private_block_and_its_form() {
        let pem = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
                   -----BEGIN EC PRIVATE KEY-----\nAAEC\nAw==\n-----END EC PRIVATE KEY-----\n";
        let (form, der) = private_key_der(pem.as_bytes()).expect("pem");
        assert_eq!(form, Form::Sec1);
        assert_eq!(der.as_slice(), [0, 1, 2, 3]);
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----";
        assert!(private_key_der(encrypted.as_bytes()).is_err());
        let public = "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----";
        assert!(private_key_der(public.as_bytes()).is_err());
    }
}
