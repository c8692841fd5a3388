//! The IBL trials table `_ibl_trials.table.pqt`: a parquet file with one row per trial
//! and one column per trials attribute (`choice`, `contrastLeft`, `contrastRight`,
//! `feedbackType`, `probabilityLeft`, …), read through the `parquet` crate (arrow-rs).

use crate::LoadError;
use parquet::basic::Compression;
use parquet::data_type::DoubleType;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The numeric columns of a trials table, by name, each one value per row (a null reads
/// as NaN); the names of the columns that are not numeric.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Numeric columns (integers, floats, booleans), as `f64`.
    pub columns: BTreeMap<String, Vec<f64>>,
    /// Columns of other types (text, nested …), not read.
    pub other: Vec<String>,
    /// Number of rows.
    pub rows: usize,
}

fn table_error(path: &Path, message: String) -> LoadError {
    LoadError::Table {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads the numeric columns of the parquet file at `path` (any compression the crate
/// was built with: uncompressed, snappy, zstd). Errors name the file: not a parquet file,
/// a damaged or truncated file, a codec that is not supported. A panic inside the parquet
/// reader on a damaged file is caught and reported as such an error.
pub(crate) fn read_table(path: &Path) -> Result<Table, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    let result = quietly(|| read_rows(file));
    match result {
        Ok(Ok(table)) => Ok(table),
        Ok(Err(e)) => Err(table_error(
            path,
            format!("not a readable parquet file: {e}"),
        )),
        Err(_) => Err(table_error(
            path,
            "not a readable parquet file (the parquet reader failed on its contents)".into(),
        )),
    }
}

thread_local! {
    /// Set while this thread runs the parquet reader under [`quietly`].
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err` without the default panic message on stderr (the
/// caller reports it as an error naming the file). The process's panic hook is wrapped once:
/// it stays silent only on a thread inside `quietly`, so other panics print as before.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result
}

fn read_rows(file: std::fs::File) -> parquet::errors::Result<Table> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = SerializedFileReader::new(file)?;
    // The crate panics on negative column offsets (`ColumnChunkMetaData::byte_range`);
    // refuse offsets outside the file first.
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            if !matches!(
                column.compression(),
                Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::ZSTD(_)
            ) {
                return Err(parquet::errors::ParquetError::General(format!(
                    "column `{}` is compressed with {:?}; denovo reads snappy, zstd or \
                     uncompressed tables (pandas' default is snappy: \
                     df.to_parquet(path, compression=\"snappy\"))",
                    column.column_path(),
                    column.compression()
                )));
            }
            if start < 0 || len < 0 || (start as u64).saturating_add(len as u64) > size {
                return Err(parquet::errors::ParquetError::General(format!(
                    "column `{}` lies outside the file (offset {start}, {len} bytes, file {size} bytes)",
                    column.column_path()
                )));
            }
        }
    }
    let mut table = Table::default();
    let fields = reader.metadata().file_metadata().schema().get_fields();
    let names: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
    let mut numeric = vec![true; names.len()];
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for row in reader.get_row_iter(None)? {
        let row = row?;
        for (i, (_, field)) in row.get_column_iter().enumerate().take(names.len()) {
            let v = match field {
                Field::Null => f64::NAN,
                Field::Bool(b) => f64::from(u8::from(*b)),
                Field::Byte(v) => f64::from(*v),
                Field::Short(v) => f64::from(*v),
                Field::Int(v) => f64::from(*v),
                Field::Long(v) => *v as f64,
                Field::UByte(v) => f64::from(*v),
                Field::UShort(v) => f64::from(*v),
                Field::UInt(v) => f64::from(*v),
                Field::ULong(v) => *v as f64,
                Field::Float16(v) => f64::from(*v),
                Field::Float(v) => f64::from(*v),
                Field::Double(v) => *v,
                _ => {
                    numeric[i] = false;
                    continue;
                }
            };
            values[i].push(v);
        }
        table.rows += 1;
    }
    for ((name, numeric), column) in names.into_iter().zip(numeric).zip(values) {
        if numeric && column.len() == table.rows {
            table.columns.insert(name, column);
        } else {
            table.other.push(name);
        }
    }
    Ok(table)
}

/// Writes a trials table to `path` as pandas does (one `double` column per entry, NaN
/// kept as NaN, snappy compression, one row group): the inverse of what the ALF reader
/// reads from `_ibl_trials.table.pqt`.
///
/// Errors: [`LoadError::Unsupported`] when the columns differ in length or a name is not
/// a plain identifier; [`LoadError::Io`] / [`LoadError::Table`] naming `path`.
pub fn write_trials_table(path: &Path, columns: &[(&str, Vec<f64>)]) -> Result<(), LoadError> {
    let rows = columns.first().map_or(0, |c| c.1.len());
    for (name, values) in columns {
        if values.len() != rows
            || name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(LoadError::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "cannot write column `{name}` ({} values, the first column has {rows}; names are letters, digits and _)",
                    values.len()
                ),
            });
        }
    }
    let fields: String = columns
        .iter()
        .map(|(name, _)| format!("REQUIRED DOUBLE {name}; "))
        .collect();
    let pq = |e: parquet::errors::ParquetError| table_error(path, format!("writing: {e}"));
    let schema =
        parquet::schema::parser::parse_message_type(&format!("message schema {{ {fields}}}"))
            .map_err(pq)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).map_err(|e| LoadError::io(path, e))?;
    let mut writer =
        SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(pq)?;
    let mut group = writer.next_row_group().map_err(pq)?;
    for (_, values) in columns {
        let Some(mut column) = group.next_column().map_err(pq)? else {
            break;
        };
        column
            .typed::<DoubleType>()
            .write_batch(values, None, None)
            .map_err(pq)?;
        column.close().map_err(pq)?;
    }
    group.close().map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{QUIET, quietly};

    #[test]
    fn quietly_turns_a_panic_into_err_and_leaves_the_thread_loud_again() {
        assert_eq!(quietly(|| 3).ok(), Some(3));
        assert!(quietly(|| -> u8 { panic!("damaged page") }).is_err());
        assert!(!QUIET.with(std::cell::Cell::get));
    }
}
