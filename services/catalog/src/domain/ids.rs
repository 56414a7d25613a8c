//! Identifier newtypes that can only be built valid ("parse, don't validate").

use std::fmt;

/// Why an identifier was refused (lowercase, names the expected shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

fn err(message: impl Into<String>) -> IdError {
    IdError(message.into())
}

/// An Autodesk 15-character product id: identifies one service plan (product, subscription
/// period and support level). Upper-case ASCII letters and digits; parsing upper-cases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AutodeskProductId(String);

impl AutodeskProductId {
    /// Number of characters of a product id.
    pub const LEN: usize = 15;

    /// Parses a product id (surrounding blanks ignored, case-insensitive).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.chars().count() != Self::LEN {
            return Err(err(format!(
                "an Autodesk product id has {} characters (got {})",
                Self::LEN,
                s.chars().count()
            )));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err("an Autodesk product id has only letters and digits"));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AutodeskProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Autodesk Customer Specific Number: exactly 10 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Csn(String);

impl Csn {
    /// Parses a CSN (surrounding blanks ignored).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("a CSN has exactly 10 digits"));
        }
        Ok(Self(s.to_string()))
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Csn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Microsoft Partner Center catalog item id `productId:skuId:availabilityId`, e.g.
/// `CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P`. Product and availability ids are 12 letters/digits, the
/// SKU id 4; parsing upper-cases.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MicrosoftCatalogItemId {
    product_id: String,
    sku_id: String,
    availability_id: String,
}

impl MicrosoftCatalogItemId {
    /// Parses a catalog item id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let shape = || {
            err(
                "a Microsoft catalog item id looks like productId:skuId:availabilityId, e.g. CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P",
            )
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [product, sku, availability] = parts.as_slice() else {
            return Err(shape());
        };
        let alnum =
            |p: &str, len: usize| p.len() == len && p.bytes().all(|b| b.is_ascii_alphanumeric());
        if !alnum(product, 12) || !alnum(sku, 4) || !alnum(availability, 12) {
            return Err(shape());
        }
        Ok(Self {
            product_id: product.to_ascii_uppercase(),
            sku_id: sku.to_ascii_uppercase(),
            availability_id: availability.to_ascii_uppercase(),
        })
    }

    /// The product id part.
    pub fn product_id(&self) -> &str {
        &self.product_id
    }

    /// The SKU id part.
    pub fn sku_id(&self) -> &str {
        &self.sku_id
    }

    /// The availability id part.
    pub fn availability_id(&self) -> &str {
        &self.availability_id
    }
}

impl fmt::Display for MicrosoftCatalogItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.product_id, self.sku_id, self.availability_id
        )
    }
}

/// A catalog resource id (plan, vendor, category): 1–128 characters of lower-case letters,
/// digits, `-`, `_` and `.` (slugs such as `plan-autodesk-autocad-annual`, or UUIDs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    /// Parses an id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(err("must not be empty"));
        }
        if s.len() > 128 {
            return Err(err("at most 128 characters"));
        }
        if !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        }) {
            return Err(err("only lower-case letters, digits, '-', '_' and '.'"));
        }
        Ok(Self(s.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes into the string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autodesk_product_ids_are_fifteen_alphanumerics() {
        assert_eq!(
            AutodeskProductId::parse(" acdxx001yabwwl1 ")
                .unwrap()
                .as_str(),
            "ACDXX001YABWWL1"
        );
        assert!(AutodeskProductId::parse("ACDXX001YABWWL").is_err());
        assert!(AutodeskProductId::parse("ACDXX001YABWWL12").is_err());
        assert!(AutodeskProductId::parse("ACDXX001YAB-WL1").is_err());
        assert!(AutodeskProductId::parse("ÄCDXX001YABWWL1").is_err());
    }

    #[test]
    fn csn_is_ten_digits() {
        assert!(Csn::parse("5100000001").is_ok());
        assert!(Csn::parse("510000000").is_err());
        assert!(Csn::parse("51000000012").is_err());
        assert!(Csn::parse("51000000a1").is_err());
    }

    #[test]
    fn catalog_item_ids_have_three_parts() {
        let id = MicrosoftCatalogItemId::parse("CFQ7TTC0LH0Z:0001:cfq7ttc0k18p").unwrap();
        assert_eq!(id.to_string(), "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P");
        assert_eq!(id.sku_id(), "0001");
        assert!(MicrosoftCatalogItemId::parse("CFQ7TTC0LH0Z:0001").is_err());
        assert!(MicrosoftCatalogItemId::parse("CFQ7TTC0LH0Z:01:CFQ7TTC0K18P").is_err());
        assert!(MicrosoftCatalogItemId::parse("CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P:X").is_err());
    }

    #[test]
    fn resource_ids_are_slugs() {
        assert!(ResourceId::parse("plan-autodesk-autocad-annual").is_ok());
        assert!(ResourceId::parse("").is_err());
        assert!(ResourceId::parse("Plan").is_err());
        assert!(ResourceId::parse("a b").is_err());
    }
}
