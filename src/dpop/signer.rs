//! The private half of a [`DpopKey`](super::DpopKey), whichever its
//! algorithm: one enum, so a proof is signed without dynamic dispatch and
//! the algorithm modules stay free of each other.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::jwk::Members;
use super::pem::Form;
use super::{DpopAlgorithm, ed25519, es256, rs256};
use crate::Error;

/// A key pair that signs proofs. It has no `Debug`: nothing can print it.
pub(super) enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl Signer {
    pub(super) fn generate(algorithm: DpopAlgorithm) -> Result<Self, Error> {
        Ok(match algorithm {
            DpopAlgorithm::Es256 => Signer::Es256(es256::generate()?),
            DpopAlgorithm::EdDsa => Signer::EdDsa(ed25519::generate()?),
            DpopAlgorithm::Rs256 => Signer::Rs256(rs256::generate()?),
        })
    }

    /// A private key in DER; `form` is what a PEM label said it is (DER
    /// has no label: `Pkcs8`, which any algorithm may be), so a label
    /// naming another algorithm's key is refused as such. Each algorithm
    /// then reads PKCS#8 or its traditional form, whichever it is.
    pub(super) fn from_der(
        algorithm: DpopAlgorithm,
        der: &[u8],
        form: Form,
    ) -> Result<Self, Error> {
        let fits = match form {
            Form::Pkcs8 => true,
            Form::Sec1 => algorithm == DpopAlgorithm::Es256,
            Form::Pkcs1 => algorithm == DpopAlgorithm::Rs256,
        };
        if !fits {
            let found = if form == Form::Sec1 {
                "an EC"
            } else {
                "an RSA"
            };
            return Err(super::jose::invalid(&format!(
                "the PEM holds {found} key, not a key for {algorithm}"
            )));
        }
        Ok(match algorithm {
            DpopAlgorithm::Es256 => Signer::Es256(es256::from_der(der)?),
            DpopAlgorithm::EdDsa => Signer::EdDsa(ed25519::from_der(der)?),
            DpopAlgorithm::Rs256 => Signer::Rs256(rs256::from_der(der)?),
        })
    }

    pub(super) fn from_jwk(algorithm: DpopAlgorithm, jwk: &str) -> Result<Self, Error> {
        Ok(match algorithm {
            DpopAlgorithm::Es256 => Signer::Es256(es256::from_jwk(jwk)?),
            DpopAlgorithm::EdDsa => Signer::EdDsa(ed25519::from_jwk(jwk)?),
            DpopAlgorithm::Rs256 => Signer::Rs256(rs256::from_jwk(jwk)?),
        })
    }

    pub(super) fn algorithm(&self) -> DpopAlgorithm {
        match self {
            Signer::Es256(_) => DpopAlgorithm::Es256,
            Signer::EdDsa(_) => DpopAlgorithm::EdDsa,
            Signer::Rs256(_) => DpopAlgorithm::Rs256,
        }
    }

    /// The public key's required JWK members, sorted by name.
    pub(super) fn members(&self) -> Result<Members, Error> {
        match self {
            Signer::Es256(pair) => es256::members(pair),
            Signer::EdDsa(pair) => Ok(ed25519::members(pair)),
            Signer::Rs256(pair) => Ok(rs256::members(pair)),
        }
    }

    /// Signs `jwt` (header and claims) and appends `.` and the signature,
    /// making it a complete JWS.
    pub(super) fn sign_into(&self, rng: &SystemRandom, jwt: &mut String) -> Result<(), Error> {
        let refused = || super::proof::failed("the key refused to sign");
        let message = jwt.as_bytes();
        let signature = match self {
            Signer::Es256(pair) => pair.sign(rng, message).map_err(|_| refused())?,
            Signer::EdDsa(pair) => pair.try_sign(message).map_err(|_| refused())?,
            Signer::Rs256(pair) => {
                let signature = rs256::sign(pair, rng, message)?;
                jwt.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, jwt);
                return Ok(());
            }
        };
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), jwt);
        Ok(())
    }
}
