//! Realistic Microsoft Learn Organizational Reporting datasets of any size, written as the CSV files Azure
//! Data Share lands (`shared/spec/targets.md` §3.2), for tests, demos and benchmarks; and the exact data of
//! acceptance tests AT-35..AT-39 ([`at_fixtures`]).
//!
//! [`write_sample`] builds a Learn-shaped catalog (modules with units, learning paths, certifications,
//! applied skills; uids, relative urls and JSON-array columns as Learn has them) and, for each `Users` row, a
//! consistent activity history: a badge comes with the module's XP row and the XP rows of all its units, a
//! trophy with the badges of all the path's modules, other modules are started (some of their units done).
//! Everything is derived from `seed` (splitmix64): the same spec writes the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// What [`write_sample`] writes.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub tenant_id: String,
    /// `Users` rows.
    pub users: usize,
    /// `Progress` rows: hit exactly, unless there are no users or the catalog cannot hold that many distinct
    /// rows per user (it grows up to 20,000 modules to try).
    pub progress_rows: usize,
    /// `Achievements` rows (idem).
    pub achievements_rows: usize,
    pub seed: u64,
    /// Tenant datasets named `Users_<tenant id>.csv` (as Data Share may land them) instead of `Users.csv`.
    pub tenant_suffix: bool,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            tenant_id: "3f1e9a52-7c4d-4b1e-8a6f-2d9c0b7e5a13".to_owned(),
            users: 1_000,
            progress_rows: 50_000,
            achievements_rows: 5_000,
            seed: 1,
            tenant_suffix: false,
        }
    }
}

/// What [`write_sample`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSummary {
    /// File name (in the folder) and data rows (without the header): Users, Progress, Achievements,
    /// Certifications, AppliedSkills, then the six Hierarchy* files.
    pub files: Vec<(String, u64)>,
    /// The `AADObjectId` of each `Users` row, in order, exactly as written: about half upper case, ~1 % in
    /// braces (normalise with R2 before using them as SCIM `externalId`s).
    pub aad_object_ids: Vec<String>,
}

/// Learn `userId` of the AT-35/37/38/39 learner ("L1").
pub const AT_L1: &str = "5d1c9b7e-2a4f-4c61-8e3b-6a0f1e2d3c41";
/// Learn `userId` of the AT-36 learner ("L2"), whose objectId no SCIM user has.
pub const AT_L2: &str = "9a7e4b2c-6d1f-4e83-b5a0-2c4d6e8f0a42";
/// The SCIM `externalId` (Entra objectId) of Ada Lovelace (AT-35); `Users.csv` has it in upper case.
pub const AT_ADA_OBJECT_ID: &str = "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1";
/// L2's objectId (O9 in AT-36).
pub const AT_L2_OBJECT_ID: &str = "0b8e2f0c-0000-4000-8000-000000000009";
/// The `tenantId` column of the fixtures.
pub const AT_TENANT_ID: &str = "3f1e9a52-7c4d-4b1e-8a6f-2d9c0b7e5a13";
/// L1's Σ XP in the fixtures (AT-35: the unit row's 100 + the module row's 200; the two AT-38 unit rows
/// carry 0 XP so that the AT-35 figure holds on the combined data).
pub const AT_L1_TOTAL_XP: i64 = 300;

// ---------------------------------------------------------------------------------------------------------
// Deterministic randomness

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index in `0..n` skewed towards the front (the popular end of a list).
    fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((n as f64 * u * u) as usize).min(n - 1)
    }

    /// A random version-4 GUID, lower or upper case.
    fn guid(&mut self, upper: bool) -> [u8; 36] {
        let hex: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
        let a = (self.next_u64() & !0xF000) | 0x4000;
        let b = (self.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let mut out = [b'-'; 36];
        let mut pos = 0;
        for i in 0..32 {
            if matches!(pos, 8 | 13 | 18 | 23) {
                pos += 1;
            }
            let word = if i < 16 { a } else { b };
            out[pos] = hex[((word >> (60 - 4 * (i % 16))) & 0xF) as usize];
            pos += 1;
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------
// Dates

const DAY: i64 = 86_400;

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix seconds of a UTC date at midnight.
fn at(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) * DAY
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn timestamp(secs: i64) -> [u8; 20] {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    let s = secs.rem_euclid(DAY);
    let mut out = *b"0000-00-00T00:00:00Z";
    let put = |out: &mut [u8; 20], at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut out, 0, 4, y);
    put(&mut out, 5, 2, i64::from(m));
    put(&mut out, 8, 2, i64::from(d));
    put(&mut out, 11, 2, s / 3600);
    put(&mut out, 14, 2, s / 60 % 60);
    put(&mut out, 17, 2, s % 60);
    out
}

/// `YYYYMMDD` as an integer.
fn ymd(secs: i64) -> u32 {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    y as u32 * 10_000 + m * 100 + d
}

/// A `YYYYMMDD` moved by whole months (the day clamped to 28 where it would not exist).
fn add_months(date: u32, months: i32) -> u32 {
    let (y, m, d) = ((date / 10_000) as i32, (date / 100 % 100) as i32, date % 100);
    let total = y * 12 + (m - 1) + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let d = if m == 2 && d > 28 {
        28
    } else if d == 31 && matches!(m, 4 | 6 | 9 | 11) {
        30
    } else {
        d
    };
    y as u32 * 10_000 + m as u32 * 100 + d
}

/// The data is "as of" this instant: nothing is dated later.
fn end_of_data() -> i64 {
    at(2026, 3, 31) + 18 * 3600
}

// ---------------------------------------------------------------------------------------------------------
// CSV output

struct Csv {
    name: String,
    out: BufWriter<File>,
    rows: u64,
}

impl Csv {
    fn create(dir: &Path, name: String, header: &str, capacity: usize) -> io::Result<Csv> {
        let mut out = BufWriter::with_capacity(capacity, File::create(dir.join(&name))?);
        out.write_all(header.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(Csv { name, out, rows: 0 })
    }

    /// A row of text fields, quoted where needed.
    fn record(&mut self, fields: &[&str]) -> io::Result<()> {
        let mut line = Vec::with_capacity(256);
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            push_field(&mut line, f);
        }
        line.push(b'\n');
        self.rows += 1;
        self.out.write_all(&line)
    }

    fn finish(mut self) -> io::Result<(String, u64)> {
        self.out.flush()?;
        Ok((self.name, self.rows))
    }
}

fn push_field(line: &mut Vec<u8>, f: &str) {
    let quote = f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || f.starts_with(' ') || f.ends_with(' ');
    if !quote {
        line.extend_from_slice(f.as_bytes());
        return;
    }
    line.push(b'"');
    for b in f.bytes() {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

fn json_array(items: &[&str]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

// ---------------------------------------------------------------------------------------------------------
// The catalog

struct Family {
    /// Product uid (the first entry of `products`).
    product: &'static str,
    /// The uid segment: `learn.<seg>.<slug>`.
    seg: &'static str,
    name: &'static str,
    /// Share of the catalog (percent).
    weight: usize,
    /// Subject phrase and its product uid ("" = only the family's).
    subjects: &'static [(&'static str, &'static str)],
    roles: &'static [&'static str],
    path_patterns: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        product: "azure",
        seg: "azure",
        name: "Azure",
        weight: 44,
        subjects: &[
            ("compute", ""),
            ("Azure Virtual Machines", "azure-virtual-machines"),
            ("Azure Kubernetes Service", "azure-kubernetes-service"),
            ("Azure Functions", "azure-functions"),
            ("Azure App Service", "azure-app-service"),
            ("Azure Container Apps", "azure-container-apps"),
            ("Azure Blob Storage", "azure-blob-storage"),
            ("Azure Files", "azure-files"),
            ("Azure Cosmos DB", "azure-cosmos-db"),
            ("Azure SQL Database", "azure-sql-database"),
            ("Azure Database for PostgreSQL", "azure-database-postgresql"),
            ("Azure Cache for Redis", "azure-cache-redis"),
            ("Azure virtual networks", "azure-virtual-network"),
            ("Azure Load Balancer", "azure-load-balancer"),
            ("Azure Firewall", "azure-firewall"),
            ("Azure DNS", "azure-dns"),
            ("Azure Monitor", "azure-monitor"),
            ("Azure Key Vault", "azure-key-vault"),
            ("Azure Policy", "azure-policy"),
            ("Azure Backup", "azure-backup"),
            ("Azure Site Recovery", "azure-site-recovery"),
            ("Bicep templates", "azure-resource-manager"),
            ("Azure Event Grid", "azure-event-grid"),
            ("Azure Service Bus", "azure-service-bus"),
            ("Azure Logic Apps", "azure-logic-apps"),
            ("Azure API Management", "azure-api-management"),
            ("Azure Virtual Desktop", "azure-virtual-desktop"),
            ("Azure Machine Learning", "azure-machine-learning"),
            ("Azure AI Vision", "ai-services"),
            ("Azure AI Search", "azure-cognitive-search"),
            ("Azure OpenAI Service", "azure-openai"),
            ("Azure Data Factory", "azure-data-factory"),
            ("Azure Synapse Analytics", "azure-synapse-analytics"),
            ("Azure Databricks", "azure-databricks"),
            ("Microsoft Fabric lakehouses", "fabric"),
            ("Azure DevOps pipelines", "azure-devops"),
            ("Azure Arc", "azure-arc"),
            ("cloud governance", ""),
        ],
        roles: &[
            "developer",
            "administrator",
            "solution-architect",
            "data-engineer",
            "ai-engineer",
            "devops-engineer",
            "data-scientist",
            "database-administrator",
            "student",
        ],
        path_patterns: &[
            "Azure fundamentals: {s}",
            "Get started with {s}",
            "Administer {s}",
            "Develop solutions with {s}",
            "Design and implement {s} solutions",
            "Architect {s} workloads",
            "Migrate workloads to {s}",
        ],
    },
    Family {
        product: "microsoft-365",
        seg: "m365",
        name: "Microsoft 365",
        weight: 13,
        subjects: &[
            ("Microsoft Teams", "microsoft-teams"),
            ("SharePoint Online", "sharepoint-online"),
            ("Exchange Online", "exchange-online"),
            ("Microsoft 365 Copilot", "microsoft-365-copilot"),
            ("Microsoft Intune", "microsoft-intune"),
            ("OneDrive", "onedrive"),
            ("Microsoft Purview", "microsoft-purview"),
            ("Viva Engage", "viva-engage"),
            ("Microsoft 365 tenants", ""),
            ("Windows 11 deployments", "windows"),
            ("Microsoft Loop", "microsoft-loop"),
        ],
        roles: &["administrator", "business-user", "functional-consultant", "technology-manager", "student"],
        path_patterns: &[
            "Microsoft 365 fundamentals: {s}",
            "Get started with {s}",
            "Administer {s}",
            "Deploy and manage {s}",
            "Work smarter with {s}",
        ],
    },
    Family {
        product: "power-platform",
        seg: "power-platform",
        name: "Power Platform",
        weight: 13,
        subjects: &[
            ("Power Apps canvas apps", "power-apps"),
            ("model-driven apps", "power-apps"),
            ("Power Automate cloud flows", "power-automate"),
            ("Power BI reports", "power-bi"),
            ("Power BI semantic models", "power-bi"),
            ("Microsoft Dataverse", "dataverse"),
            ("Microsoft Copilot Studio", "microsoft-copilot-studio"),
            ("Power Pages", "power-pages"),
            ("Power Platform environments", ""),
            ("AI Builder", "ai-builder"),
        ],
        roles: &["maker", "functional-consultant", "developer", "data-analyst", "business-analyst", "business-user"],
        path_patterns: &[
            "Power Platform fundamentals: {s}",
            "Get started with {s}",
            "Create solutions with {s}",
            "Extend {s}",
            "Analyze data with {s}",
        ],
    },
    Family {
        product: "dynamics-365",
        seg: "dynamics",
        name: "Dynamics 365",
        weight: 10,
        subjects: &[
            ("Dynamics 365 Sales", "dynamics-sales"),
            ("Dynamics 365 Customer Service", "dynamics-customer-service"),
            ("Dynamics 365 Finance", "dynamics-finance"),
            ("Dynamics 365 Supply Chain Management", "dynamics-supply-chain-management"),
            ("Dynamics 365 Business Central", "dynamics-business-central"),
            ("Dynamics 365 Field Service", "dynamics-field-service"),
            ("Dynamics 365 Customer Insights", "dynamics-customer-insights"),
            ("Dynamics 365 Commerce", "dynamics-commerce"),
        ],
        roles: &["functional-consultant", "developer", "business-user", "solution-architect", "administrator"],
        path_patterns: &[
            "Dynamics 365 fundamentals: {s}",
            "Get started with {s}",
            "Configure and extend {s}",
            "Implement {s}",
        ],
    },
    Family {
        product: "github",
        seg: "github",
        name: "GitHub",
        weight: 9,
        subjects: &[
            ("GitHub Actions", "github-actions"),
            ("GitHub Copilot", "github-copilot"),
            ("GitHub Advanced Security", "github-advanced-security"),
            ("GitHub Codespaces", "github-codespaces"),
            ("GitHub repositories", ""),
            ("pull requests", ""),
            ("GitHub Packages", "github-packages"),
            ("GitHub Issues and Projects", ""),
        ],
        roles: &["developer", "devops-engineer", "administrator", "student"],
        path_patterns: &["GitHub foundations: {s}", "Get started with {s}", "Automate your workflow with {s}"],
    },
    Family {
        product: "security",
        seg: "wwl",
        name: "Microsoft Security",
        weight: 11,
        subjects: &[
            ("Microsoft Sentinel", "microsoft-sentinel"),
            ("Microsoft Defender for Cloud", "microsoft-defender-for-cloud"),
            ("Microsoft Defender XDR", "microsoft-defender-xdr"),
            ("Zero Trust", ""),
            ("Conditional Access", "entra-id"),
            ("Microsoft Entra ID", "entra-id"),
            ("identity governance", "entra-id-governance"),
            ("sensitivity labels", "microsoft-purview"),
            ("KQL queries", "microsoft-sentinel"),
        ],
        roles: &["security-engineer", "security-operations-analyst", "administrator", "auditor", "risk-practitioner"],
        path_patterns: &[
            "Security fundamentals: {s}",
            "Get started with {s}",
            "Protect your organization with {s}",
            "Investigate threats with {s}",
        ],
    },
];

const MODULE_PATTERNS: &[&str] = &[
    "Introduction to {s}",
    "Get started with {s}",
    "Configure {s}",
    "Deploy {s}",
    "Secure {s}",
    "Monitor {s}",
    "Manage {s}",
    "Explore {s}",
    "Implement {s}",
    "Automate {s}",
    "Troubleshoot {s}",
    "Optimize {s}",
    "Describe {s}",
    "Integrate {s}",
    "Build solutions with {s}",
    "Plan, implement, and manage {s}",
];

const QUALIFIERS: &[&str] = &[
    "using the Azure CLI",
    "with PowerShell",
    "in the portal",
    "with Bicep",
    "with Terraform",
    "with Python",
    "with C#",
    "with JavaScript",
    "at scale",
    "for small businesses",
];

const UNIT_MIDDLE: &[&str] = &[
    "What is {s}?",
    "How {s} works",
    "When to use {s}",
    "Plan your deployment",
    "Exercise - Set up your environment",
    "Configure {s}",
    "Exercise - Configure {s}",
    "Monitor and troubleshoot",
    "Secure access",
    "Explore the architecture",
    "Understand pricing and limits",
    "Exercise - Deploy a sample app",
    "Automate with scripts",
    "Plan, configure, and verify",
    "Best practices",
    "Integrate with other services",
];

const LANGUAGES: &[&str] = &[
    "de-de", "es-es", "fr-fr", "it-it", "ja-jp", "ko-kr", "pt-br", "zh-cn", "zh-tw", "nl-nl", "pl-pl", "sv-se",
    "tr-tr", "ru-ru", "id-id", "cs-cz", "hu-hu", "pt-pt",
];

const LEVELS: &[&str] = &["beginner", "intermediate", "advanced"];

/// `uid slug|title|exam|family index|level`, popular ones first.
const CERTIFICATIONS: &[&str] = &[
    "azure-fundamentals|Microsoft Certified: Azure Fundamentals|az-900|0|Fundamentals",
    "azure-ai-fundamentals|Microsoft Certified: Azure AI Fundamentals|ai-900|0|Fundamentals",
    "azure-data-fundamentals|Microsoft Certified: Azure Data Fundamentals|dp-900|0|Fundamentals",
    "security-compliance-and-identity-fundamentals|Microsoft Certified: Security, Compliance, and Identity Fundamentals|sc-900|5|Fundamentals",
    "power-platform-fundamentals|Microsoft Certified: Power Platform Fundamentals|pl-900|2|Fundamentals",
    "microsoft-365-fundamentals|Microsoft 365 Certified: Fundamentals|ms-900|1|Fundamentals",
    "azure-administrator|Microsoft Certified: Azure Administrator Associate|az-104|0|Associate",
    "azure-developer|Microsoft Certified: Azure Developer Associate|az-204|0|Associate",
    "azure-ai-engineer|Microsoft Certified: Azure AI Engineer Associate|ai-102|0|Associate",
    "github-foundations|GitHub Foundations|gh-900|4|Fundamentals",
    "power-bi-data-analyst-associate|Microsoft Certified: Power BI Data Analyst Associate|pl-300|2|Associate",
    "azure-solutions-architect|Microsoft Certified: Azure Solutions Architect Expert|az-305|0|Expert",
    "azure-security-engineer|Microsoft Certified: Azure Security Engineer Associate|az-500|5|Associate",
    "azure-data-scientist|Microsoft Certified: Azure Data Scientist Associate|dp-100|0|Associate",
    "devops-engineer|Microsoft Certified: DevOps Engineer Expert|az-400|0|Expert",
    "fabric-analytics-engineer-associate|Microsoft Certified: Fabric Analytics Engineer Associate|dp-600|0|Associate",
    "fabric-data-engineer-associate|Microsoft Certified: Fabric Data Engineer Associate|dp-700|0|Associate",
    "azure-network-engineer-associate|Microsoft Certified: Azure Network Engineer Associate|az-700|0|Associate",
    "azure-database-administrator-associate|Microsoft Certified: Azure Database Administrator Associate|dp-300|0|Associate",
    "m365-administrator-expert|Microsoft 365 Certified: Administrator Expert|ms-102|1|Expert",
    "m365-teams-administrator-associate|Microsoft 365 Certified: Teams Administrator Associate|ms-700|1|Associate",
    "modern-desktop|Microsoft 365 Certified: Endpoint Administrator Associate|md-102|1|Associate",
    "security-operations-analyst|Microsoft Certified: Security Operations Analyst Associate|sc-200|5|Associate",
    "identity-and-access-administrator|Microsoft Certified: Identity and Access Administrator Associate|sc-300|5|Associate",
    "information-protection-administrator|Microsoft Certified: Information Protection and Compliance Administrator Associate|sc-400|5|Associate",
    "cybersecurity-architect-expert|Microsoft Certified: Cybersecurity Architect Expert|sc-100|5|Expert",
    "power-platform-functional-consultant-associate|Microsoft Certified: Power Platform Functional Consultant Associate|pl-200|2|Associate",
    "power-platform-developer-associate|Microsoft Certified: Power Platform Developer Associate|pl-400|2|Associate",
    "power-platform-solution-architect-expert|Microsoft Certified: Power Platform Solution Architect Expert|pl-600|2|Expert",
    "power-automate-rpa-developer-associate|Microsoft Certified: Power Automate RPA Developer Associate|pl-500|2|Associate",
    "dynamics-365-fundamentals-crm|Microsoft Certified: Dynamics 365 Fundamentals (CRM)|mb-910|3|Fundamentals",
    "dynamics-365-fundamentals-erp|Microsoft Certified: Dynamics 365 Fundamentals (ERP)|mb-920|3|Fundamentals",
    "d365-functional-consultant-sales|Microsoft Certified: Dynamics 365 Sales Functional Consultant Associate|mb-210|3|Associate",
    "d365-functional-consultant-customer-service|Microsoft Certified: Dynamics 365 Customer Service Functional Consultant Associate|mb-230|3|Associate",
    "d365-functional-consultant-field-service|Microsoft Certified: Dynamics 365 Field Service Functional Consultant Associate|mb-240|3|Associate",
    "d365-business-central-functional-consultant-associate|Microsoft Certified: Dynamics 365 Business Central Functional Consultant Associate|mb-800|3|Associate",
    "d365-finance-and-operations-apps-developer-associate|Microsoft Certified: Dynamics 365: Finance and Operations Apps Developer Associate|mb-500|3|Associate",
    "github-actions|GitHub Actions|gh-200|4|Specialty",
    "github-advanced-security|GitHub Advanced Security|gh-500|4|Specialty",
    "github-copilot|GitHub Copilot|gh-300|4|Specialty",
    "github-administration|GitHub Administration|gh-100|4|Specialty",
    "azure-cosmos-db-developer-specialty|Microsoft Certified: Azure Cosmos DB Developer Specialty|dp-420|0|Specialty",
    "azure-virtual-desktop-specialty|Microsoft Certified: Azure Virtual Desktop Specialty|az-140|0|Specialty",
    "azure-for-sap-workloads-specialty|Microsoft Certified: Azure for SAP Workloads Specialty|az-120|0|Specialty",
];

/// `slug after applied-skill.|title|lab number|family index|subjects;…|tasks;…`.
const APPLIED_SKILLS: &[&str] = &[
    "build-azure-ai-vision-solution|Build an Azure AI Vision solution|3004|0|artificial-intelligence;computer-vision|Provision an Azure AI Vision resource;Analyze images;Read text in images",
    "develop-generative-ai-solutions-with-azure-openai-service|Develop generative AI solutions with Azure OpenAI Service|3007|0|artificial-intelligence|Deploy a model;Engineer prompts;Add your own data",
    "create-an-intelligent-document-processing-solution|Create an intelligent document processing solution|3005|0|artificial-intelligence|Build a custom model;Extract data from forms",
    "build-natural-language-processing-solution-azure-ai-language|Build a natural language processing solution with Azure AI Language|3003|0|artificial-intelligence;natural-language-processing|Analyze text;Build a conversational language model",
    "deploy-and-configure-azure-monitor|Deploy and configure Azure Monitor|1003|0|monitoring|Configure diagnostic settings;Create alert rules;Query logs",
    "secure-storage-for-azure-files-and-azure-blob-storage|Secure storage for Azure Files and Azure Blob Storage|1001|0|storage;security|Create a storage account;Configure network access;Configure encryption",
    "configure-secure-access-to-your-workloads-using-azure-networking|Configure secure access to your workloads using Azure networking|1004|0|networking;security|Create a virtual network;Configure network security groups;Configure Azure Firewall",
    "deploy-cloud-native-apps-using-azure-container-apps|Deploy cloud-native apps using Azure Container Apps|2003|0|containers;app-development|Build a container image;Deploy a container app;Scale a container app",
    "implement-a-data-warehouse-with-microsoft-fabric|Implement a data warehouse with Microsoft Fabric|2002|0|data-engineering|Create a warehouse;Load data;Query a warehouse",
    "implement-a-lakehouse-with-microsoft-fabric|Implement a Lakehouse with Microsoft Fabric|2001|0|data-engineering;data-analytics|Create a lakehouse;Ingest data with pipelines;Transform data with notebooks",
    "create-and-manage-canvas-apps-with-power-apps|Create and manage canvas apps with Power Apps|6001|2|app-development|Create a canvas app;Connect to data;Share an app",
    "create-and-manage-automated-processes-by-using-power-automate|Create and manage automated processes by using Power Automate|6002|2|business-process-automation|Create a cloud flow;Add approvals;Handle errors",
    "build-collaborative-apps-for-microsoft-teams|Build collaborative apps for Microsoft Teams|4001|1|app-development;collaboration|Create a Teams app;Add a message extension;Publish the app",
    "prepare-security-and-compliance-to-support-microsoft-365-copilot|Prepare security and compliance to support Microsoft 365 Copilot|4002|1|security;artificial-intelligence|Configure sensitivity labels;Restrict oversharing;Review permissions",
    "configure-siem-security-operations-using-microsoft-sentinel|Configure SIEM security operations using Microsoft Sentinel|5001|5|security|Create a workspace;Connect data sources;Create analytics rules",
    "defend-against-cyberthreats-with-microsoft-defender-xdr|Defend against cyberthreats with Microsoft Defender XDR|5002|5|security|Investigate an incident;Run advanced hunting queries",
    "secure-azure-services-and-workloads-with-microsoft-defender-for-cloud|Secure Azure services and workloads with Microsoft Defender for Cloud regulatory compliance controls|5003|5|security;compliance|Enable Defender plans;Review regulatory compliance;Remediate recommendations",
    "automate-development-workflows-with-github-actions|Automate development workflows with GitHub Actions|7001|4|devops|Create a workflow;Use secrets;Publish a package",
    "accelerate-app-development-by-using-github-copilot|Accelerate app development by using GitHub Copilot|7002|4|app-development;artificial-intelligence|Generate code with Copilot Chat;Write unit tests;Refactor code",
    "create-and-manage-model-driven-apps-with-power-apps-and-dataverse|Create and manage model-driven apps with Power Apps and Dataverse|6003|2|app-development;data-management|Create tables;Build a model-driven app;Configure security roles",
    "configure-dynamics-365-sales|Configure Dynamics 365 Sales for your sales team|8001|3|business-applications|Configure the sales pipeline;Set up forecasts",
];

/// The `|`-separated fields of a table row above.
fn fields<const N: usize>(row: &'static str) -> [&'static str; N] {
    let mut out = [""; N];
    for (o, f) in out.iter_mut().zip(row.split('|')) {
        *o = f;
    }
    out
}

struct Unit {
    uid: String,
    title: String,
    url: String,
    minutes: u32,
    /// `points.unit.basic.completed,Unit,<uid>,100,`
    progress: Vec<u8>,
}

struct Module {
    uid: String,
    slug: String,
    title: String,
    family: usize,
    products: Vec<&'static str>,
    roles: Vec<&'static str>,
    levels: Vec<&'static str>,
    languages: Vec<&'static str>,
    units: Vec<Unit>,
    /// `points.module.basic.completed,Module,<uid>,200,`
    progress: Vec<u8>,
    /// `badge.module.basic.completed,Badge,<uid>.badge,Module,<uid>,`
    badge: Vec<u8>,
}

struct LearningPath {
    uid: String,
    slug: String,
    title: String,
    modules: Vec<usize>,
    points: u32,
    minutes: u32,
    products: Vec<&'static str>,
    roles: Vec<&'static str>,
    levels: Vec<&'static str>,
    languages: Vec<&'static str>,
    progress: Vec<u8>,
    trophy: Vec<u8>,
}

struct Catalog {
    modules: Vec<Module>,
    paths: Vec<LearningPath>,
}

fn slugify(title: &str) -> String {
    let mut s = String::with_capacity(title.len());
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if c == '#' {
            s.push_str("sharp");
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    while s.ends_with('-') {
        s.pop();
    }
    match s.strip_prefix("introduction-to-") {
        Some(rest) => format!("intro-to-{rest}"),
        None => s,
    }
}

fn pick_family(rng: &mut Rng) -> usize {
    let mut r = rng.below(FAMILIES.iter().map(|f| f.weight).sum());
    for (i, f) in FAMILIES.iter().enumerate() {
        if r < f.weight {
            return i;
        }
        r -= f.weight;
    }
    0
}

fn pick_levels(rng: &mut Rng) -> Vec<&'static str> {
    let r = rng.below(100);
    let first = if r < 45 {
        0
    } else if r < 85 {
        1
    } else {
        2
    };
    if first < 2 && rng.chance(0.25) { vec![LEVELS[first], LEVELS[first + 1]] } else { vec![LEVELS[first]] }
}

fn pick_some(rng: &mut Rng, pool: &[&'static str], max: usize) -> Vec<&'static str> {
    let n = 1 + rng.below(max.min(pool.len()));
    let mut out: Vec<&'static str> = Vec::with_capacity(n);
    while out.len() < n {
        let r = *rng.pick(pool);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn pick_languages(rng: &mut Rng) -> Vec<&'static str> {
    let share = if rng.chance(0.2) { 0.3 } else { 0.9 };
    let mut out = vec!["en-us"];
    out.extend(LANGUAGES.iter().copied().filter(|_| rng.chance(share)));
    out
}

fn progress_prefix(reason: &str, kind: &str, uid: &str, xp: u32) -> Vec<u8> {
    format!("{reason},{kind},{uid},{xp},").into_bytes()
}

fn build_catalog(rng: &mut Rng, modules_wanted: usize, paths_wanted: usize) -> Catalog {
    let mut seen = std::collections::HashSet::new();
    let mut modules = Vec::with_capacity(modules_wanted);
    let mut fails = 0usize;
    while modules.len() < modules_wanted {
        let family = pick_family(rng);
        let fam = &FAMILIES[family];
        let (subject, product) = *rng.pick(fam.subjects);
        let mut title = rng.pick(MODULE_PATTERNS).replace("{s}", subject);
        // Past the plain combinations: qualified titles, then numbered parts.
        let level = fails / 40;
        if level >= 1 {
            title = format!("{title} {}", rng.pick(QUALIFIERS));
        }
        if level >= 2 {
            title = format!("{title} - part {}", 2 + rng.below(level * 4));
        }
        let slug = slugify(&title);
        if !seen.insert(slug.clone()) {
            fails += 1;
            continue;
        }
        fails = 0;
        let uid = format!("learn.{}.{slug}", fam.seg);
        let mut products = vec![fam.product];
        if !product.is_empty() {
            products.push(product);
        }
        let n_units = 3 + rng.below(7);
        let mut units = Vec::with_capacity(n_units);
        let mut middles: Vec<&str> = Vec::new();
        for i in 1..=n_units {
            let (utitle, minutes) = if i == 1 {
                ("Introduction".to_owned(), 1 + rng.below(3) as u32)
            } else if i == n_units {
                ("Summary".to_owned(), 1 + rng.below(2) as u32)
            } else if i == n_units - 1 && n_units >= 4 {
                ("Knowledge check".to_owned(), 3 + rng.below(3) as u32)
            } else {
                let mut m = *rng.pick(UNIT_MIDDLE);
                while middles.contains(&m) {
                    m = *rng.pick(UNIT_MIDDLE);
                }
                middles.push(m);
                let minutes = if m.starts_with("Exercise") { 8 + rng.below(13) } else { 3 + rng.below(8) };
                (m.replace("{s}", subject), minutes as u32)
            };
            let uslug = format!("{i}-{}", slugify(&utitle));
            let uuid = format!("{uid}.{uslug}");
            units.push(Unit {
                progress: progress_prefix("points.unit.basic.completed", "Unit", &uuid, 100),
                url: format!("/training/modules/{slug}/{uslug}"),
                uid: uuid,
                title: utitle,
                minutes,
            });
        }
        modules.push(Module {
            progress: progress_prefix("points.module.basic.completed", "Module", &uid, 200),
            badge: format!("badge.module.basic.completed,Badge,{uid}.badge,Module,{uid},").into_bytes(),
            uid,
            slug,
            title,
            family,
            products,
            roles: pick_some(rng, fam.roles, 3),
            levels: pick_levels(rng),
            languages: pick_languages(rng),
            units,
        });
    }

    let mut by_family: Vec<Vec<usize>> = vec![Vec::new(); FAMILIES.len()];
    for (i, m) in modules.iter().enumerate() {
        by_family[m.family].push(i);
    }
    let mut paths = Vec::with_capacity(paths_wanted);
    let mut seen = std::collections::HashSet::new();
    let mut fails = 0usize;
    while paths.len() < paths_wanted && !modules.is_empty() {
        let family = pick_family(rng);
        let fam = &FAMILIES[family];
        let (subject, product) = *rng.pick(fam.subjects);
        let mut title = rng.pick(fam.path_patterns).replace("{s}", subject);
        if fails / 40 >= 1 {
            title = format!("{title} - part {}", 2 + rng.below(fails / 10));
        }
        let slug = slugify(&title);
        if !seen.insert(slug.clone()) {
            fails += 1;
            continue;
        }
        fails = 0;
        let pool = if by_family[family].len() >= 10 { &by_family[family] } else { &(0..modules.len()).collect() };
        let n = (4 + rng.below(7)).min(pool.len());
        let mut members: Vec<usize> = Vec::with_capacity(n);
        while members.len() < n {
            let m = *rng.pick(pool);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        let jitter = 0.8 + 0.4 * rng.unit();
        let points = ((members.len() as f64 * 300.0 * jitter / 100.0).round() as u32 * 100).clamp(1_000, 3_000);
        let minutes = members.iter().map(|&m| modules[m].units.iter().map(|u| u.minutes).sum::<u32>()).sum();
        let uid = format!("learn.{}.{slug}", fam.seg);
        let mut products = vec![fam.product];
        if !product.is_empty() {
            products.push(product);
        }
        paths.push(LearningPath {
            progress: progress_prefix("points.path.basic.completed", "LearningPath", &uid, points),
            trophy: format!("trophy.path.basic.completed,Trophy,{uid}.trophy,LearningPath,{uid},").into_bytes(),
            uid,
            slug,
            title,
            modules: members,
            points,
            minutes,
            products,
            roles: pick_some(rng, fam.roles, 3),
            levels: pick_levels(rng),
            languages: pick_languages(rng),
        });
    }
    Catalog { modules, paths }
}

fn write_catalog(dir: &Path, cat: &Catalog, files: &mut Vec<(String, u64)>) -> io::Result<()> {
    const MIB: usize = 1 << 20;
    let mut f = Csv::create(
        dir,
        "HierarchyModule.csv".into(),
        "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages",
        MIB,
    )?;
    for m in &cat.modules {
        let minutes: u32 = m.units.iter().map(|u| u.minutes).sum();
        f.record(&[
            &m.uid,
            &m.title,
            &format!("/training/modules/{}/", m.slug),
            &format!("/training/achievements/{}.svg", m.slug),
            &minutes.to_string(),
            "200",
            &json_array(&m.levels),
            &json_array(&m.products),
            &json_array(&m.roles),
            &json_array(&m.languages),
        ])?;
    }
    files.push(f.finish()?);

    let mut f =
        Csv::create(dir, "HierarchyUnit.csv".into(), "unitUid,title,url,durationInMinutes,points,moduleUid", MIB)?;
    for m in &cat.modules {
        for u in &m.units {
            f.record(&[&u.uid, &u.title, &u.url, &u.minutes.to_string(), "100", &m.uid])?;
        }
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyLearningPath.csv".into(),
        "LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages",
        MIB,
    )?;
    for p in &cat.paths {
        f.record(&[
            &p.uid,
            &p.title,
            &format!("/training/paths/{}/", p.slug),
            &p.minutes.to_string(),
            &p.points.to_string(),
            &format!("/training/achievements/paths/{}.svg", p.slug),
            &json_array(&p.levels),
            &json_array(&p.products),
            &json_array(&p.roles),
            &json_array(&p.languages),
        ])?;
    }
    files.push(f.finish()?);

    let mut f = Csv::create(dir, "HierarchyLearningPathModule.csv".into(), "LearningPathUid,ModuleUid", MIB)?;
    for p in &cat.paths {
        for &m in &p.modules {
            f.record(&[&p.uid, &cat.modules[m].uid])?;
        }
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyCertification.csv".into(),
        "certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams",
        MIB,
    )?;
    for row in CERTIFICATIONS {
        let [slug, title, exam, family, level] = fields(row);
        let fam = &FAMILIES[family.parse::<usize>().unwrap_or(0)];
        let level_tag = match level {
            "Fundamentals" => "beginner",
            "Expert" => "advanced",
            _ => "intermediate",
        };
        let short = title.rsplit(": ").next().unwrap_or(title);
        let summary = format!(
            "Earn the {short} certification to show that you can plan, implement, and manage {} solutions.",
            fam.name
        );
        let role = |word: &str| title.contains(word);
        let roles: Vec<&str> = if role("Administrator") {
            vec!["administrator"]
        } else if role("Developer") {
            vec!["developer"]
        } else if role("Architect") {
            vec!["solution-architect"]
        } else if role("Security Engineer") || role("Security Operations") {
            vec!["security-engineer", "security-operations-analyst"]
        } else if role("AI Engineer") {
            vec!["ai-engineer"]
        } else if role("Data Scientist") {
            vec!["data-scientist"]
        } else if role("Engineer") {
            vec!["data-engineer", "devops-engineer"]
        } else if role("Analyst") {
            vec!["data-analyst"]
        } else if role("Consultant") {
            vec!["functional-consultant"]
        } else {
            fam.roles[..2].to_vec()
        };
        f.record(&[
            &format!("certification.{slug}"),
            "0",
            title,
            &summary,
            &format!("/credentials/certifications/{slug}/"),
            &format!("/media/learn/certification/badges/microsoft-certified-{}-badge.svg", level.to_ascii_lowercase()),
            &json_array(&[level_tag]),
            &json_array(&[fam.product]),
            &json_array(&roles),
            &json_array(&[&format!("exam.{exam}")]),
        ])?;
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyAppliedSkills.csv".into(),
        "appliedSkillsUid,title,url,levels,products,roles,subjects,tasks",
        MIB,
    )?;
    for row in APPLIED_SKILLS {
        let [slug, title, _, family, subjects, tasks] = fields(row);
        let fam = &FAMILIES[family.parse::<usize>().unwrap_or(0)];
        let (subjects, tasks): (Vec<&str>, Vec<&str>) = (subjects.split(';').collect(), tasks.split(';').collect());
        f.record(&[
            &format!("applied-skill.{slug}"),
            title,
            &format!("/credentials/applied-skills/{slug}/"),
            &json_array(&["intermediate"]),
            &json_array(&[fam.product]),
            &json_array(&fam.roles[..1]),
            &json_array(&subjects),
            &json_array(&tasks),
        ])?;
    }
    files.push(f.finish()?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Tenant datasets

/// Splits `total` over `weights` exactly (largest-prefix rounding).
fn shares(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    if sum <= 0.0 {
        out.resize(weights.len(), 0);
        if let Some(first) = out.first_mut() {
            *first = total;
        }
        return out;
    }
    let (mut cum, mut given) = (0.0, 0usize);
    for (i, w) in weights.iter().enumerate() {
        cum += w;
        let upto = if i + 1 == weights.len() { total } else { ((total as f64) * cum / sum).floor() as usize };
        let upto = upto.clamp(given, total);
        out.push(upto - given);
        given = upto;
    }
    out
}

/// One pass over the users, writing the five tenant datasets.
struct Tenant<'a> {
    cat: &'a Catalog,
    progress: BufWriter<File>,
    achievements: BufWriter<File>,
    /// `tenantId,userId,` of the current user.
    prefix: Vec<u8>,
    /// Per module / path: the 1-based index of the last user who got its badge / started it / got the trophy.
    badged: Vec<u32>,
    badge_time: Vec<i64>,
    started: Vec<u32>,
    trophied: Vec<u32>,
    progress_rows: u64,
    achievement_rows: u64,
}

impl Tenant<'_> {
    fn progress_row(&mut self, middle: &[u8], t: i64) -> io::Result<()> {
        self.progress.write_all(&self.prefix)?;
        self.progress.write_all(middle)?;
        let mut ts = [0u8; 21];
        ts[..20].copy_from_slice(&timestamp(t));
        ts[20] = b'\n';
        self.progress_rows += 1;
        self.progress.write_all(&ts)
    }

    fn achievement_row(&mut self, middle: &[u8], t: i64) -> io::Result<()> {
        self.achievements.write_all(&self.prefix)?;
        self.achievements.write_all(middle)?;
        let mut ts = [0u8; 21];
        ts[..20].copy_from_slice(&timestamp(t));
        ts[20] = b'\n';
        self.achievement_rows += 1;
        self.achievements.write_all(&ts)
    }

    /// A module not yet badged (and, with `fresh`, not started) by user `me`: popular ones first.
    fn free_module(&self, rng: &mut Rng, me: u32, fresh: bool) -> Option<usize> {
        let n = self.cat.modules.len();
        if n == 0 {
            return None;
        }
        let ok = |m: usize| self.badged[m] != me && (!fresh || self.started[m] != me);
        for _ in 0..8 {
            let m = rng.skewed(n);
            if ok(m) {
                return Some(m);
            }
        }
        let start = rng.below(n);
        (0..n).map(|i| (start + i) % n).find(|&m| ok(m))
    }

    /// Units in order, then the module XP row and the badge. `budget` progress rows at most (fewer units when
    /// it is short: only when the spec asks for few Progress rows per Achievement). Returns (rows, time done).
    fn complete_module(
        &mut self,
        rng: &mut Rng,
        me: u32,
        m: usize,
        t0: i64,
        budget: usize,
    ) -> io::Result<(usize, i64)> {
        let cat = self.cat;
        let module = &cat.modules[m];
        let end = end_of_data();
        let units = module.units.len().min(budget.saturating_sub(1));
        let mut t = t0;
        for u in &module.units[..units] {
            self.progress_row(&u.progress, t)?;
            t = (t + 60 * (2 + rng.below(20)) as i64 + rng.below(60) as i64).min(end);
        }
        let mut rows = units;
        if budget > 0 {
            self.progress_row(&module.progress, t)?;
            rows += 1;
        }
        self.achievement_row(&module.badge, t)?;
        self.badged[m] = me;
        self.started[m] = me;
        self.badge_time[m] = t;
        Ok((rows, t))
    }
}

/// The start of an activity taking `span` seconds: in `[from, end of data - span]`, more likely recent.
fn when(rng: &mut Rng, from: i64, span: i64) -> i64 {
    let end = end_of_data() - span;
    if from >= end {
        return from.min(end_of_data());
    }
    from + ((end - from) as f64 * rng.unit().powf(0.7)) as i64
}

/// Writes a sample of `spec`'s size into `dir` (created if missing): the five tenant datasets and the six
/// Hierarchy* catalog datasets, as CSV.
pub fn write_sample(dir: &Path, spec: &SampleSpec) -> io::Result<SampleSummary> {
    const MIB: usize = 1 << 20;
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(spec.seed);
    let mut cat_rng = Rng::new(rng.next_u64());
    let mut weight_rng = Rng::new(rng.next_u64());

    // Catalog: ~400 modules, growing slowly with users, and enough that every user can hold their share of
    // distinct progress rows (7 rows per module on average).
    let users = spec.users;
    let needed = if users == 0 { 0 } else { (2 * spec.progress_rows).div_ceil(users * 7) };
    let n_modules = (400 + users / 1000).min(1200).max(needed.min(20_000));
    let n_paths = (n_modules / 7).max(60);
    let cat = build_catalog(&mut cat_rng, n_modules, n_paths);

    let mut files = Vec::new();
    let suffix = if spec.tenant_suffix { format!("_{}", spec.tenant_id) } else { String::new() };
    let name = |base: &str| format!("{base}{suffix}.csv");

    let mut users_csv = Csv::create(dir, name("Users"), "tenantId,userId,AADObjectId,CreatedOn", MIB)?;
    let progress_name = name("Progress");
    let achievements_name = name("Achievements");
    let mut progress = BufWriter::with_capacity(4 * MIB, File::create(dir.join(&progress_name))?);
    progress.write_all(b"tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n")?;
    let mut achievements = BufWriter::with_capacity(2 * MIB, File::create(dir.join(&achievements_name))?);
    achievements.write_all(b"tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn\n")?;
    let mut certs_csv = Csv::create(
        dir,
        name("Certifications"),
        "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,\
         StayCurrentEligibilityStartDate",
        MIB,
    )?;
    let mut skills_csv =
        Csv::create(dir, name("AppliedSkills"), "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate", MIB)?;

    // Activity per user: log-normal, capped at 30x the mean; achievements loosely follow progress.
    let weights: Vec<f64> = (0..users).map(|_| (1.2 * weight_rng.normal()).exp().min(60.0)).collect();
    let a_weights: Vec<f64> = weights.iter().map(|w| w * (0.5 + weight_rng.unit())).collect();
    let p_quota = shares(spec.progress_rows, &weights);
    let a_quota = shares(spec.achievements_rows, &a_weights);
    let mean_w = if users == 0 { 1.0 } else { weights.iter().sum::<f64>() / users as f64 };

    let mut t = Tenant {
        cat: &cat,
        progress,
        achievements,
        prefix: Vec::with_capacity(80),
        badged: vec![0; cat.modules.len()],
        badge_time: vec![0; cat.modules.len()],
        started: vec![0; cat.modules.len()],
        trophied: vec![0; cat.paths.len()],
        progress_rows: 0,
        achievement_rows: 0,
    };
    let mut cert_held = vec![0u32; CERTIFICATIONS.len()];
    let mut skill_held = vec![0u32; APPLIED_SKILLS.len()];
    let mut aad_object_ids = Vec::with_capacity(users);
    let (mut carry_p, mut carry_a) = (0usize, 0usize);
    // Enough Progress rows for every badge to come with its units (~7 rows a badge, paths included).
    let strict = spec.progress_rows >= spec.achievements_rows.saturating_mul(8);
    let end = end_of_data();

    for i in 0..users {
        let me = i as u32 + 1;
        let user_id = rng.guid(false);
        let upper = rng.chance(0.5);
        let oid = String::from_utf8_lossy(&rng.guid(upper)).into_owned();
        let oid = if rng.chance(0.01) { format!("{{{oid}}}") } else { oid };
        let created = if rng.chance(0.04) {
            rng.range(at(2016, 3, 1), at(2017, 9, 30))
        } else {
            rng.range(at(2019, 1, 1), at(2025, 12, 31))
        };
        let user_id = std::str::from_utf8(&user_id).unwrap_or_default();
        users_csv.record(&[
            &spec.tenant_id,
            user_id,
            &oid,
            std::str::from_utf8(&timestamp(created)).unwrap_or_default(),
        ])?;
        aad_object_ids.push(oid);
        t.prefix.clear();
        t.prefix.extend_from_slice(spec.tenant_id.as_bytes());
        t.prefix.push(b',');
        t.prefix.extend_from_slice(user_id.as_bytes());
        t.prefix.push(b',');

        let mut p = p_quota[i] + carry_p;
        let mut a = a_quota[i] + carry_a;

        // Learning paths: all the path's modules, then the trophy.
        let attempts = a / 12 + usize::from(rng.chance((a % 12) as f64 / 12.0));
        for _ in 0..attempts {
            if cat.paths.is_empty() {
                break;
            }
            let pi = rng.skewed(cat.paths.len());
            if t.trophied[pi] == me {
                continue;
            }
            let path = &cat.paths[pi];
            let new: Vec<usize> = path.modules.iter().copied().filter(|&m| t.badged[m] != me).collect();
            let need_p = 1 + new.iter().map(|&m| cat.modules[m].units.len() + 1).sum::<usize>();
            if new.len() + 1 > a || need_p > p {
                continue;
            }
            let mut time = when(&mut rng, created, new.len() as i64 * 4 * DAY);
            let mut last = time;
            for &m in &new {
                let (rows, done) = t.complete_module(&mut rng, me, m, time, usize::MAX)?;
                p -= rows;
                a -= 1;
                time = (done + rng.range(3_600, 3 * DAY)).min(end);
            }
            for &m in &path.modules {
                last = last.max(t.badge_time[m]);
            }
            t.progress_row(&path.progress, last)?;
            t.achievement_row(&path.trophy, last)?;
            t.trophied[pi] = me;
            p -= 1;
            a -= 1;
        }

        // Badges for single modules. A badge this user cannot back with all its units goes to the next user,
        // unless the spec asks for too few Progress rows per Achievement (or this is the last user).
        while a > 0 {
            let Some(m) = t.free_module(&mut rng, me, false) else { break };
            if strict && cat.modules[m].units.len() + 1 > p && i + 1 < users {
                break;
            }
            let start = when(&mut rng, created, DAY / 6);
            let (rows, _) = t.complete_module(&mut rng, me, m, start, p)?;
            p -= rows;
            a -= 1;
        }

        // Modules started: the first units of modules without a badge.
        while p > 0 {
            let Some(m) = t.free_module(&mut rng, me, true) else { break };
            let units = &cat.modules[m].units;
            let k = (1 + rng.below(units.len() - 1)).min(p);
            let mut time = when(&mut rng, created, DAY / 6);
            for u in &units[..k] {
                t.progress_row(&u.progress, time)?;
                time = (time + 60 * (2 + rng.below(20)) as i64).min(end);
            }
            t.started[m] = me;
            p -= k;
        }
        carry_p = p;
        carry_a = a;

        // Certifications and applied skills, more likely for active learners.
        let activity = (weights[i] / mean_w).clamp(0.3, 3.0);
        if rng.chance(0.12 * activity) {
            let n = 1 + usize::from(rng.chance(0.35)) + usize::from(rng.chance(0.15));
            for _ in 0..n {
                let c = rng.skewed(CERTIFICATIONS.len());
                if cert_held[c] == me {
                    continue;
                }
                cert_held[c] = me;
                let [slug, title, _, _, level] = fields(CERTIFICATIONS[c]);
                let (awarded, start, end_date, stay) = if level == "Fundamentals" {
                    let d = ymd(rng.range(at(2019, 1, 1).max(created), end));
                    (d, d, 0, 0)
                } else {
                    // Role-based: renewed yearly; most active, some expired in the last two years.
                    let start = if rng.chance(0.2) {
                        rng.range(end - 3 * 365 * DAY, end - 366 * DAY)
                    } else {
                        rng.range(end - 365 * DAY, end - DAY)
                    };
                    let start = ymd(start);
                    let awarded =
                        if rng.chance(0.35) { add_months(start, -12 * (1 + rng.below(3) as i32)) } else { start };
                    let end_date = add_months(start, 12);
                    let stay = if rng.chance(0.4) { add_months(end_date, -6) } else { 0 };
                    (awarded, start, end_date, stay)
                };
                certs_csv.record(&[
                    &spec.tenant_id,
                    user_id,
                    "Certification",
                    title,
                    &format!("certification.{slug}"),
                    &awarded.to_string(),
                    &start.to_string(),
                    &end_date.to_string(),
                    &stay.to_string(),
                ])?;
            }
        }
        if rng.chance(0.05 * activity) {
            for _ in 0..1 + usize::from(rng.chance(0.25)) {
                let s = rng.below(APPLIED_SKILLS.len());
                if skill_held[s] == me {
                    continue;
                }
                skill_held[s] = me;
                let [slug, title, lab] = fields(APPLIED_SKILLS[s]);
                let scored = timestamp(when(&mut rng, created.max(at(2023, 11, 15)), 0));
                skills_csv.record(&[
                    &spec.tenant_id,
                    user_id,
                    &format!("applied-skill.{slug}"),
                    &format!("APL-{lab}: {title}"),
                    std::str::from_utf8(&scored).unwrap_or_default(),
                ])?;
            }
        }
    }

    files.push(users_csv.finish()?);
    t.progress.flush()?;
    t.achievements.flush()?;
    files.push((progress_name, t.progress_rows));
    files.push((achievements_name, t.achievement_rows));
    files.push(certs_csv.finish()?);
    files.push(skills_csv.finish()?);
    write_catalog(dir, &cat, &mut files)?;
    Ok(SampleSummary { files, aad_object_ids })
}

// ---------------------------------------------------------------------------------------------------------
// Acceptance-test fixtures

/// Writes the data of AT-35..AT-39 (`shared/spec/targets.md` §5) into `dir` (created if missing), as
/// `Users.csv`, `Progress.csv`, … without tenant suffix:
/// * Users: L1 ([`AT_L1`], AADObjectId `7F3C1E2A-5B6D-4C8E-9F00-1234567890A1` = upper-case
///   [`AT_ADA_OBJECT_ID`]) and L2 ([`AT_L2`], [`AT_L2_OBJECT_ID`], which no SCIM user has).
/// * Progress for L1: unit `learn.intro-to-compute.1-introduction` 100 XP and module `learn.intro-to-compute`
///   200 XP (AT-35), units `learn.azure.query-data-sentinel.1-introduction` and `.2-exercise-setup` with 0 XP
///   (AT-38), so Σ XP = [`AT_L1_TOTAL_XP`] = 300.
/// * Achievements: L1 Badge `learn.intro-to-compute` 2024-03-01, Trophy `learn.cloud-foundations`
///   2024-04-01, Badge `learn.create-azure-account` 2017-09-30 (excluded) (AT-37); L2 one Badge
///   `learn.create-azure-account` 2024-02-20 (AT-36).
/// * Certifications (header `tenantID`): L1 `certification.azure-ai-engineer` 20240115 / 20240115 /
///   20250115 / 0 (AT-39).
/// * Catalog: modules `learn.intro-to-compute` ("Introduction to compute", `/training/modules/intro-to-compute/`),
///   `learn.create-azure-account`, `azure.query-data-sentinel`; units mapping the AT-38 units to
///   `azure.query-data-sentinel`; path `learn.cloud-foundations` ("Cloud foundations"); certification
///   `certification.azure-ai-engineer` ("Microsoft Certified: Azure AI Engineer Associate"); AppliedSkills
///   has only its header.
pub fn at_fixtures(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in AT_FILES {
        let text = text.replace("{T}", AT_TENANT_ID).replace("{L1}", AT_L1).replace("{L2}", AT_L2);
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The fixture files; `{T}`, `{L1}`, `{L2}` stand for [`AT_TENANT_ID`], [`AT_L1`], [`AT_L2`].
const AT_FILES: &[(&str, &str)] = &[
    (
        "Users.csv",
        "tenantId,userId,AADObjectId,CreatedOn
{T},{L1},7F3C1E2A-5B6D-4C8E-9F00-1234567890A1,2023-01-10T09:00:00Z
{T},{L2},0b8e2f0c-0000-4000-8000-000000000009,2023-02-01T12:30:00Z
",
    ),
    (
        "Progress.csv",
        "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn
{T},{L1},points.unit.basic.completed,Unit,learn.intro-to-compute.1-introduction,100,2024-03-01T10:05:00Z
{T},{L1},points.module.basic.completed,Module,learn.intro-to-compute,200,2024-03-01T10:15:00Z
{T},{L1},points.unit.basic.completed,Unit,learn.azure.query-data-sentinel.1-introduction,0,2024-05-02T08:00:00Z
{T},{L1},points.unit.basic.completed,Unit,learn.azure.query-data-sentinel.2-exercise-setup,0,2024-05-02T08:20:00Z
",
    ),
    (
        "Achievements.csv",
        "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn
{T},{L1},badge.module.basic.completed,Badge,learn.intro-to-compute.badge,Module,learn.intro-to-compute,2024-03-01T10:15:00Z
{T},{L1},trophy.path.basic.completed,Trophy,learn.cloud-foundations.trophy,LearningPath,learn.cloud-foundations,2024-04-01T16:00:00Z
{T},{L1},badge.module.basic.completed,Badge,learn.create-azure-account.badge,Module,learn.create-azure-account,2017-09-30T11:00:00Z
{T},{L2},badge.module.basic.completed,Badge,learn.create-azure-account.badge,Module,learn.create-azure-account,2024-02-20T14:45:00Z
",
    ),
    (
        "Certifications.csv",
        "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,\
StayCurrentEligibilityStartDate
{T},{L1},Certification,Microsoft Certified: Azure AI Engineer Associate,certification.azure-ai-engineer,20240115,\
20240115,20250115,0
",
    ),
    ("AppliedSkills.csv", "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate\n"),
    (
        "HierarchyModule.csv",
        r#"moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages
learn.intro-to-compute,Introduction to compute,/training/modules/intro-to-compute/,/training/achievements/intro-to-compute.svg,24,200,"[""beginner""]","[""azure"",""azure-virtual-machines""]","[""administrator"",""developer"",""student""]","[""en-us"",""de-de""]"
learn.create-azure-account,Create an Azure account,/training/modules/create-an-azure-account/,/training/achievements/create-an-azure-account.svg,15,200,"[""beginner""]","[""azure""]","[""administrator"",""developer"",""solution-architect""]","[""en-us""]"
azure.query-data-sentinel,"Query, visualize, and monitor data in Microsoft Sentinel",/training/modules/query-data-sentinel/,/training/achievements/query-data-sentinel.svg,45,200,"[""intermediate""]","[""microsoft-sentinel""]","[""security-operations-analyst""]","[""en-us""]"
"#,
    ),
    (
        "HierarchyUnit.csv",
        "unitUid,title,url,durationInMinutes,points,moduleUid
learn.intro-to-compute.1-introduction,Introduction,/training/modules/intro-to-compute/1-introduction,2,100,\
learn.intro-to-compute
learn.azure.query-data-sentinel.1-introduction,Introduction,/training/modules/query-data-sentinel/1-introduction,1,\
100,azure.query-data-sentinel
learn.azure.query-data-sentinel.2-exercise-setup,Exercise - Set up your environment,\
/training/modules/query-data-sentinel/2-exercise-setup,10,100,azure.query-data-sentinel
",
    ),
    (
        "HierarchyLearningPath.csv",
        r#"LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages
learn.cloud-foundations,Cloud foundations,/training/paths/cloud-foundations/,39,1000,/training/achievements/paths/cloud-foundations.svg,"[""beginner""]","[""azure""]","[""administrator"",""developer""]","[""en-us""]"
"#,
    ),
    (
        "HierarchyLearningPathModule.csv",
        "LearningPathUid,ModuleUid
learn.cloud-foundations,learn.intro-to-compute
learn.cloud-foundations,learn.create-azure-account
",
    ),
    (
        "HierarchyCertification.csv",
        r#"certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams
certification.azure-ai-engineer,0,Microsoft Certified: Azure AI Engineer Associate,"Design and implement Azure AI solutions, including computer vision, language, and generative AI.",/credentials/certifications/azure-ai-engineer/,/media/learn/certification/badges/microsoft-certified-associate-badge.svg,"[""intermediate""]","[""azure"",""ai-services""]","[""ai-engineer""]","[""exam.ai-102""]"
"#,
    ),
    (
        "HierarchyAppliedSkills.csv",
        r#"appliedSkillsUid,title,url,levels,products,roles,subjects,tasks
applied-skill.build-azure-ai-vision-solution,Build an Azure AI Vision solution,/credentials/applied-skills/build-azure-ai-vision-solution/,"[""intermediate""]","[""azure""]","[""ai-engineer""]","[""artificial-intelligence""]","[""Provision an Azure AI Vision resource"",""Analyze images""]"
"#,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::path::PathBuf;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("scimgw-sample-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// RFC 4180 records of a file (header first).
    fn read_csv(path: &Path) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut rows = Vec::new();
        let (mut row, mut field) = (Vec::new(), String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(field.is_empty() && row.is_empty(), "{}: no final newline", path.display());
        rows
    }

    /// Rows as maps column → value.
    fn table(dir: &Path, name: &str) -> Vec<HashMap<String, String>> {
        let rows = read_csv(&dir.join(name));
        let header = rows[0].clone();
        rows[1..]
            .iter()
            .map(|r| {
                assert_eq!(r.len(), header.len(), "{name}: {r:?}");
                header.iter().cloned().zip(r.iter().cloned()).collect()
            })
            .collect()
    }

    fn spec(users: usize, progress: usize, achievements: usize, seed: u64) -> SampleSpec {
        SampleSpec {
            tenant_id: "a1b2c3d4-0000-4000-8000-00000000abcd".into(),
            users,
            progress_rows: progress,
            achievements_rows: achievements,
            seed,
            tenant_suffix: false,
        }
    }

    const HEADERS: &[(&str, &str)] = &[
        ("Users", "tenantId,userId,AADObjectId,CreatedOn"),
        ("Progress", "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn"),
        ("Achievements", "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn"),
        (
            "Certifications",
            "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,\
             CertificationEndDate,StayCurrentEligibilityStartDate",
        ),
        ("AppliedSkills", "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate"),
        ("HierarchyModule", "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages"),
        ("HierarchyUnit", "unitUid,title,url,durationInMinutes,points,moduleUid"),
        (
            "HierarchyLearningPath",
            "LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages",
        ),
        ("HierarchyLearningPathModule", "LearningPathUid,ModuleUid"),
        ("HierarchyCertification", "certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams"),
        ("HierarchyAppliedSkills", "appliedSkillsUid,title,url,levels,products,roles,subjects,tasks"),
    ];

    #[test]
    fn files_headers_and_counts() {
        let d = Dir::new("counts");
        let mut s = spec(300, 20_000, 2_500, 7);
        s.tenant_suffix = true;
        let sum = write_sample(&d.0, &s).expect("write");
        assert_eq!(sum.files.len(), 11);
        for (base, header) in HEADERS {
            let tenant = !base.starts_with("Hierarchy");
            let name = if tenant { format!("{base}_{}.csv", s.tenant_id) } else { format!("{base}.csv") };
            let text = std::fs::read_to_string(d.0.join(&name)).expect(&name);
            assert_eq!(text.lines().next(), Some(*header), "{name}");
            assert!(text.ends_with('\n') && !text.contains('\r'));
            let rows = sum.files.iter().find(|(n, _)| *n == name).expect("in summary").1;
            assert_eq!(read_csv(&d.0.join(&name)).len() as u64 - 1, rows, "{name}");
        }
        let count = |base: &str| sum.files.iter().find(|(n, _)| n.starts_with(&format!("{base}_"))).expect(base).1;
        assert_eq!(count("Users"), 300);
        assert_eq!(count("Progress"), 20_000);
        assert_eq!(count("Achievements"), 2_500);
        assert!(count("Certifications") > 10);
        assert_eq!(sum.aad_object_ids.len(), 300);
    }

    #[test]
    fn counts_are_exact_for_odd_sizes() {
        for (users, p, a) in [(1, 40, 3), (7, 1_001, 0), (50, 0, 0), (50, 120, 100), (0, 0, 0), (2_000, 123_457, 9_999)]
        {
            let d = Dir::new("odd");
            let sum = write_sample(&d.0, &spec(users, p, a, 3)).expect("write");
            let rows = |n: &str| sum.files.iter().find(|(f, _)| f == n).expect(n).1;
            assert_eq!(rows("Users.csv"), users as u64);
            let (gp, ga) = (rows("Progress.csv"), rows("Achievements.csv"));
            if users > 0 {
                assert_eq!((gp, ga), (p as u64, a as u64), "users {users}");
            } else {
                assert_eq!((gp, ga), (0, 0));
            }
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (d1, d2, d3) = (Dir::new("det1"), Dir::new("det2"), Dir::new("det3"));
        let s1 = write_sample(&d1.0, &spec(200, 8_000, 900, 42)).expect("write");
        let s2 = write_sample(&d2.0, &spec(200, 8_000, 900, 42)).expect("write");
        let s3 = write_sample(&d3.0, &spec(200, 8_000, 900, 43)).expect("write");
        assert_eq!(s1, s2);
        for (name, _) in &s1.files {
            let a = std::fs::read(d1.0.join(name)).expect("read");
            assert_eq!(a, std::fs::read(d2.0.join(name)).expect("read"), "{name}");
        }
        assert_ne!(s1.aad_object_ids, s3.aad_object_ids);
        assert_ne!(std::fs::read(d1.0.join("Progress.csv")).ok(), std::fs::read(d3.0.join("Progress.csv")).ok());
    }

    #[test]
    fn references_and_consistency() {
        let d = Dir::new("refs");
        let sum = write_sample(&d.0, &spec(500, 40_000, 4_000, 11)).expect("write");
        let users = table(&d.0, "Users.csv");
        let ids: HashSet<&str> = users.iter().map(|u| u["userId"].as_str()).collect();
        assert_eq!(ids.len(), users.len(), "userIds unique");
        let oids: Vec<&str> = users.iter().map(|u| u["AADObjectId"].as_str()).collect();
        assert_eq!(oids, sum.aad_object_ids.iter().map(String::as_str).collect::<Vec<_>>());
        let upper = oids.iter().filter(|o| o.chars().any(|c| c.is_ascii_uppercase())).count();
        assert!((150..350).contains(&upper), "about half upper case: {upper}");
        assert!(oids.iter().all(|o| o.trim_matches(['{', '}']).len() == 36));
        let created: Vec<&str> = users.iter().map(|u| u["CreatedOn"].as_str()).collect();
        assert!(created.iter().all(|c| c.len() == 20 && c.ends_with('Z') && c.as_bytes()[10] == b'T'));

        let modules: HashSet<String> =
            table(&d.0, "HierarchyModule.csv").into_iter().map(|m| m["moduleUid"].clone()).collect();
        assert!(modules.len() >= 400);
        assert!(modules.iter().all(|m| m.starts_with("learn.")));
        let units = table(&d.0, "HierarchyUnit.csv");
        let mut unit_module = HashMap::new();
        let mut units_of: HashMap<String, usize> = HashMap::new();
        for u in &units {
            assert!(modules.contains(&u["moduleUid"]), "unit {} of unknown module", u["unitUid"]);
            assert!(u["unitUid"].starts_with(&format!("{}.", u["moduleUid"])));
            unit_module.insert(u["unitUid"].clone(), u["moduleUid"].clone());
            *units_of.entry(u["moduleUid"].clone()).or_default() += 1;
        }
        assert!(units_of.values().all(|n| (3..=9).contains(n)));
        let paths: HashSet<String> =
            table(&d.0, "HierarchyLearningPath.csv").into_iter().map(|p| p["LearningPathUid"].clone()).collect();
        assert!(paths.len() >= 60);
        let mut path_modules: HashMap<String, Vec<String>> = HashMap::new();
        for l in table(&d.0, "HierarchyLearningPathModule.csv") {
            assert!(paths.contains(&l["LearningPathUid"]) && modules.contains(&l["ModuleUid"]));
            path_modules.entry(l["LearningPathUid"].clone()).or_default().push(l["ModuleUid"].clone());
        }

        // Progress: known users and sources, unique natural keys, Learn's XP.
        let mut keys = HashSet::new();
        let mut done_units: HashMap<(String, String), usize> = HashMap::new();
        let mut unit_rows = 0;
        for p in table(&d.0, "Progress.csv") {
            assert!(ids.contains(p["userId"].as_str()));
            assert!(keys.insert((p["userId"].clone(), p["SourceType"].clone(), p["SourceUid"].clone())), "dup {p:?}");
            let ts = &p["AwardedOn"];
            assert!(ts.len() == 20 && ("2016".."2026-04").contains(&ts.as_str()), "{ts}");
            match (p["SourceType"].as_str(), p["XPReason"].as_str(), p["XP"].as_str()) {
                ("Unit", "points.unit.basic.completed", "100") => {
                    unit_rows += 1;
                    let m = unit_module.get(&p["SourceUid"]).expect("known unit");
                    *done_units.entry((p["userId"].clone(), m.clone())).or_default() += 1;
                }
                ("Module", "points.module.basic.completed", "200") => assert!(modules.contains(&p["SourceUid"])),
                ("LearningPath", "points.path.basic.completed", xp) => {
                    assert!(paths.contains(&p["SourceUid"]));
                    assert!((1_000..=3_000).contains(&xp.parse::<i64>().expect("xp")));
                }
                other => panic!("unexpected progress row {other:?}"),
            }
        }
        assert!(unit_rows > 30_000, "mostly unit rows: {unit_rows}");

        // Achievements: a badge comes with all the module's units, a trophy with all the path's badges.
        let achievements = table(&d.0, "Achievements.csv");
        let badges: HashSet<(String, String)> = achievements
            .iter()
            .filter(|a| a["awardType"] == "Badge")
            .map(|a| (a["userId"].clone(), a["SourceUid"].clone()))
            .collect();
        let (mut trophies, mut early) = (0, 0);
        let mut award_keys = HashSet::new();
        for a in &achievements {
            assert!(ids.contains(a["userId"].as_str()));
            assert!(award_keys.insert((a["userId"].clone(), a["awardUid"].clone())));
            assert_eq!(a["awardUid"], format!("{}.{}", a["SourceUid"], a["awardType"].to_lowercase()));
            early += usize::from(a["AwardedOn"].as_str() < "2017-10-01");
            match (a["awardType"].as_str(), a["SourceType"].as_str(), a["awardReason"].as_str()) {
                ("Badge", "Module", "badge.module.basic.completed") => {
                    let key = (a["userId"].clone(), a["SourceUid"].clone());
                    assert_eq!(done_units.get(&key), units_of.get(&a["SourceUid"]), "{key:?}");
                }
                ("Trophy", "LearningPath", "trophy.path.basic.completed") => {
                    trophies += 1;
                    for m in &path_modules[&a["SourceUid"]] {
                        assert!(badges.contains(&(a["userId"].clone(), m.clone())), "trophy without badge {m}");
                    }
                }
                other => panic!("unexpected achievement {other:?}"),
            }
        }
        assert!(trophies > 20, "some trophies: {trophies}");
        assert!(early > 0 && early < achievements.len() / 20, "a few badges before 2017-10-01: {early}");

        // Certifications and applied skills.
        let certs: HashSet<String> =
            table(&d.0, "HierarchyCertification.csv").into_iter().map(|c| c["certificationUid"].clone()).collect();
        assert!(certs.contains("certification.azure-ai-engineer"));
        let (mut expired, mut stay) = (0, 0);
        for c in table(&d.0, "Certifications.csv") {
            assert!(ids.contains(c["userId"].as_str()) && certs.contains(&c["SourceUid"]));
            let int = |k: &str| c[k].parse::<u32>().expect(k);
            let (start, end) = (int("CertificationStartDate"), int("CertificationEndDate"));
            assert!(int("AwardedOn") <= start && (20190101..=20260331).contains(&start));
            if end != 0 {
                assert_eq!(end, add_months(start, 12));
                expired += usize::from(end < 20260331);
            }
            stay += usize::from(int("StayCurrentEligibilityStartDate") != 0);
        }
        assert!(expired > 0 && stay > 0);
        let skills: HashSet<String> =
            table(&d.0, "HierarchyAppliedSkills.csv").into_iter().map(|s| s["appliedSkillsUid"].clone()).collect();
        assert!(skills.len() >= 20);
        for s in table(&d.0, "AppliedSkills.csv") {
            assert!(ids.contains(s["userId"].as_str()) && skills.contains(&s["appliedSkillsUid"]));
            assert!(s["labProfileName"].starts_with("APL-"));
        }
    }

    #[test]
    fn json_array_columns_parse() {
        let d = Dir::new("json");
        write_sample(&d.0, &spec(20, 500, 50, 5)).expect("write");
        let arrays: &[(&str, &[&str])] = &[
            ("HierarchyModule.csv", &["levels", "products", "roles", "languages"]),
            ("HierarchyLearningPath.csv", &["levels", "products", "roles", "languages"]),
            ("HierarchyCertification.csv", &["levels", "products", "roles", "exams"]),
            ("HierarchyAppliedSkills.csv", &["levels", "products", "roles", "subjects", "tasks"]),
        ];
        for (file, cols) in arrays {
            for row in table(&d.0, file) {
                for c in *cols {
                    let v: serde_json::Value = serde_json::from_str(&row[*c]).expect(c);
                    let items = v.as_array().unwrap_or_else(|| panic!("{file} {c}: {v}"));
                    assert!(!items.is_empty() && items.iter().all(|i| i.is_string()), "{file} {c}: {v}");
                }
            }
        }
        let modules = table(&d.0, "HierarchyModule.csv");
        assert!(
            modules
                .iter()
                .all(|m| m["url"]
                    == format!("/training/modules/{}/", m["moduleUid"].splitn(3, '.').nth(2).unwrap_or("")))
        );
        let text = std::fs::read_to_string(d.0.join("HierarchyModule.csv")).expect("read");
        assert!(text.contains(r#""[""beginner"#), "arrays quoted as CSV");
    }

    #[test]
    fn dates() {
        assert_eq!(&timestamp(at(2024, 3, 1) + 10 * 3600 + 15 * 60), b"2024-03-01T10:15:00Z");
        assert_eq!(&timestamp(at(2000, 2, 29) + 86_399), b"2000-02-29T23:59:59Z");
        assert_eq!(ymd(at(2017, 9, 30)), 20170930);
        assert_eq!(civil_from_days(days_from_civil(1999, 12, 31)), (1999, 12, 31));
        assert_eq!(add_months(20240229, 12), 20250228);
        assert_eq!(add_months(20250115, -6), 20240715);
        assert_eq!(add_months(20240831, -6), 20240228);
    }

    #[test]
    fn guids() {
        let mut r = Rng::new(1);
        for _ in 0..100 {
            let g = String::from_utf8(r.guid(false).to_vec()).expect("ascii");
            let b = g.as_bytes();
            assert_eq!((b[8], b[13], b[18], b[23], b[14]), (b'-', b'-', b'-', b'-', b'4'), "{g}");
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{g}");
            assert_eq!(g, g.to_lowercase());
        }
        let g = r.guid(true);
        assert_eq!(g.to_vec(), g.to_ascii_uppercase());
        assert!(g.iter().any(u8::is_ascii_uppercase));
    }

    #[test]
    fn acceptance_fixtures() {
        let d = Dir::new("at");
        at_fixtures(&d.0).expect("write");
        let users = table(&d.0, "Users.csv");
        assert_eq!(users.len(), 2);
        assert_eq!(users[0]["userId"], AT_L1);
        assert_eq!(users[0]["AADObjectId"].to_lowercase(), AT_ADA_OBJECT_ID);
        assert_ne!(users[0]["AADObjectId"], AT_ADA_OBJECT_ID, "upper case in the dataset");
        assert_eq!((users[1]["userId"].as_str(), users[1]["AADObjectId"].as_str()), (AT_L2, AT_L2_OBJECT_ID));
        let xp: i64 = table(&d.0, "Progress.csv")
            .iter()
            .filter(|p| p["userId"] == AT_L1)
            .map(|p| p["XP"].parse::<i64>().expect("xp"))
            .sum();
        assert_eq!(xp, AT_L1_TOTAL_XP);
        let certs = read_csv(&d.0.join("Certifications.csv"));
        assert_eq!(certs[0][0], "tenantID");
        assert_eq!(certs[1][4], "certification.azure-ai-engineer");
        let hc = table(&d.0, "HierarchyCertification.csv");
        assert_eq!(hc[0]["title"], "Microsoft Certified: Azure AI Engineer Associate");
        let units = table(&d.0, "HierarchyUnit.csv");
        assert_eq!(units.iter().filter(|u| u["moduleUid"] == "azure.query-data-sentinel").count(), 2);
        let a = table(&d.0, "Achievements.csv");
        assert_eq!(a.iter().filter(|a| a["userId"] == AT_L2 && a["awardType"] == "Badge").count(), 1);
        for (base, header) in HEADERS {
            let text = std::fs::read_to_string(d.0.join(format!("{base}.csv"))).expect(base);
            assert_eq!(text.lines().next(), Some(*header));
        }
    }
}
