//! Turns the `[[brands]]` and `[process]` configuration into the engine's settings. Kept here,
//! at the edge, so the engine stays free of the service's config types.

use rapport_engine::{BrandSettings, EngineConfig, WeeklyHours};
use rapport_runtime::config::{BrandConfig, ProcessConfig};

#[derive(Debug, thiserror::Error)]
pub enum BrandSettingsError {
    #[error("brand `{brand}`: business_hours has unknown day `{day}` (use mon, tue, wed, thu, fri, sat, sun)")]
    UnknownDay { brand: String, day: String },
    #[error("brand `{brand}`: sla_target must be below 136 years")]
    SlaTooLong { brand: String },
    #[error("process.{field} does not fit the engine ({detail})")]
    Duration { field: &'static str, detail: String },
}

pub fn engine_config(process: &ProcessConfig) -> Result<EngineConfig, BrandSettingsError> {
    let secs = |field: &'static str, d: std::time::Duration| {
        u32::try_from(d.as_secs()).map_err(|e| BrandSettingsError::Duration {
            field,
            detail: e.to_string(),
        })
    };
    Ok(EngineConfig {
        thread_gap_seconds: secs("thread_gap", process.thread_gap)?,
        max_pending_seconds: secs("max_pending", process.max_pending)?,
        allowed_lateness_seconds: secs("allowed_lateness", process.allowed_lateness)?,
        ..EngineConfig::default()
    })
}

pub fn brand_settings(brands: &[BrandConfig]) -> Result<Vec<BrandSettings>, BrandSettingsError> {
    brands.iter().map(one).collect()
}

fn one(b: &BrandConfig) -> Result<BrandSettings, BrandSettingsError> {
    let business_hours = if b.business_hours.is_empty() {
        None
    } else {
        let mut w = WeeklyHours::default();
        for (day, spec) in &b.business_hours {
            let slot = match day.as_str() {
                "mon" => &mut w.mon,
                "tue" => &mut w.tue,
                "wed" => &mut w.wed,
                "thu" => &mut w.thu,
                "fri" => &mut w.fri,
                "sat" => &mut w.sat,
                "sun" => &mut w.sun,
                _ => {
                    return Err(BrandSettingsError::UnknownDay {
                        brand: b.id.clone(),
                        day: day.clone(),
                    })
                }
            };
            *slot = Some(spec.clone());
        }
        Some(w)
    };
    let sla_target_seconds =
        u32::try_from(b.sla_target.as_secs()).map_err(|_| BrandSettingsError::SlaTooLong {
            brand: b.id.clone(),
        })?;
    Ok(BrandSettings {
        brand_id: b.id.clone(),
        timezone: b.timezone.clone(),
        business_hours,
        holidays: b.holidays.clone(),
        sla_target_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_engine::Engine;

    #[test]
    fn the_example_configuration_builds_an_engine() {
        std::env::set_var("EXAMPLE_META_APP_SECRET", "example");
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rapport.example.toml");
        let config = rapport_runtime::Config::load_with_env(Some(&path), Vec::new())
            .expect("example config");
        let settings = brand_settings(&config.brands).expect("brand settings");
        assert_eq!(settings[0].brand_id, "acme");
        assert_eq!(
            settings[0]
                .business_hours
                .as_ref()
                .and_then(|w| w.mon.clone())
                .as_deref(),
            Some("09:00-17:00")
        );
        assert_eq!(settings[0].sla_target_seconds, 3600);
        Engine::new(
            engine_config(&config.process).expect("engine config"),
            settings,
        )
        .expect("engine accepts them");
    }

    #[test]
    fn unknown_days_are_refused() {
        let mut b: BrandConfig =
            toml_brand("id = \"a\"\nbusiness_hours = { monday = \"09:00-17:00\" }\n");
        assert!(matches!(
            one(&b),
            Err(BrandSettingsError::UnknownDay { .. })
        ));
        b.business_hours.clear();
        assert!(
            one(&b).expect("no hours").business_hours.is_none(),
            "no hours = always open"
        );
    }

    fn toml_brand(text: &str) -> BrandConfig {
        let dir = std::env::temp_dir().join(format!("rapport-brand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("b.toml");
        std::fs::write(&path, format!("[[brands]]\n{text}")).expect("write");
        rapport_runtime::Config::load_with_env(Some(&path), Vec::new())
            .expect("config")
            .brands
            .remove(0)
    }
}
