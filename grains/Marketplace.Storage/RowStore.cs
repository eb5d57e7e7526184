using Npgsql;

namespace Marketplace.Storage;

/// <summary>A stored grain state and the version it was stored at.</summary>
public sealed record StoredRow<T>(T State, long Version);

/// <summary>Another activation (or a lost race) wrote the row first: the caller's copy is stale.</summary>
public sealed class StaleStateException(string table, string id, long expectedVersion)
    : Exception($"{table} row '{id}' is no longer at version {expectedVersion}");

/// <summary>A column a table keeps beside the jsonb state, so SQL can find and check rows without parsing json.</summary>
public sealed record Column<T>(string Name, Func<T, object?> Value);

/// <summary>
/// Grain state kept as one row per grain: an id, query columns, the whole state as jsonb and a version. A write names
/// the version it read; if the row has moved on, nothing is written and <see cref="StaleStateException"/> is thrown.
/// This is the ETag rule that keeps two activations of one grain from both committing.
/// A table the web tier lists also keeps the row's public view (<c>view_json</c>), written by the same statement as the
/// state at the version written, so the read side never parses the state.
/// </summary>
public class RowStore<T>
{
    private readonly NpgsqlDataSource _db;
    private readonly CommitBatcher? _writer;
    private readonly string _table;
    private readonly IReadOnlyList<Column<T>> _columns;
    private readonly Func<string, T, long, string>? _view;
    private readonly string _select;
    private readonly string _insert;
    private readonly string _update;

    /// <param name="view">The row's public view as json, given its id, state and the version being written; none if the table keeps no view.</param>
    public RowStore(NpgsqlDataSource db, CommitBatcher? writer, string table, IReadOnlyList<Column<T>> columns,
        Func<string, T, long, string>? view = null)
    {
        _db = db;
        _writer = writer;
        _table = table;
        _columns = columns;
        _view = view;
        var names = string.Join(", ", columns.Select(c => c.Name)) + (view is null ? "" : ", view_json");
        var values = string.Join(", ", columns.Select((_, i) => $"@c{i}")) + (view is null ? "" : ", @view::jsonb");
        var sets = string.Join(", ", columns.Select((c, i) => $"{c.Name} = @c{i}")) + (view is null ? "" : ", view_json = @view::jsonb");
        _select = $"SELECT state_json::text, version FROM {table} WHERE id = @id";
        _insert = $"WITH w AS (INSERT INTO {table} (id, {names}, state_json, version) VALUES (@id, {values}, @state::jsonb, 1) " +
                  "ON CONFLICT (id) DO NOTHING RETURNING 1) SELECT count(*)::int FROM w";
        _update = $"WITH w AS (UPDATE {table} SET {sets}, state_json = @state::jsonb, version = version + 1 " +
                  "WHERE id = @id AND version = @version RETURNING 1) SELECT count(*)::int FROM w";
    }

    protected NpgsqlDataSource Db => _db;

    /// <summary>The row's first state as a write inside a larger statement: inserted only when <paramref name="guard"/> has a row.</summary>
    public string InsertFrom(GuardedWrite w, string guard, string id, T state) =>
        $"INSERT INTO {_table} (id, {string.Join(", ", _columns.Select(c => c.Name))}{(_view is null ? "" : ", view_json")}, state_json, version) " +
        $"SELECT {w.Parameter(id)}, {string.Join(", ", _columns.Select(c => w.Parameter(c.Value(state))))}" +
        $"{(_view is null ? "" : $", {w.Parameter(_view(id, state, 1))}::jsonb")}, {w.Parameter(StateJson.Serialize(state))}::jsonb, 1 " +
        $"FROM {guard} RETURNING 1";

    /// <summary>A change of the row as a write inside a larger statement, over <paramref name="expectedVersion"/>, when <paramref name="guard"/> has a row.</summary>
    public string UpdateFrom(GuardedWrite w, string guard, string id, T state, long expectedVersion) =>
        $"UPDATE {_table} SET {string.Join(", ", _columns.Select(c => $"{c.Name} = {w.Parameter(c.Value(state))}"))}, " +
        (_view is null ? "" : $"view_json = {w.Parameter(_view(id, state, expectedVersion + 1))}::jsonb, ") +
        $"state_json = {w.Parameter(StateJson.Serialize(state))}::jsonb, version = {_table}.version + 1 " +
        $"FROM {guard} WHERE {_table}.id = {w.Parameter(id)} AND {_table}.version = {w.Parameter(expectedVersion)} RETURNING 1";

    public async Task<StoredRow<T>?> LoadAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var command = _db.CreateCommand(_select);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new StoredRow<T>(StateJson.Deserialize<T>(reader.GetString(0)), reader.GetInt64(1));
    }

    /// <summary>Writes the state over <paramref name="expectedVersion"/> (0: the row must not exist yet); returns the new version.</summary>
    /// <remarks>The state is serialized before this returns its task, so the caller may change it right after.</remarks>
    public async Task<long> WriteAsync(string id, T state, long expectedVersion)
    {
        var parameters = new List<NpgsqlParameter> { new("id", id), new("state", StateJson.Serialize(state)) };
        for (var i = 0; i < _columns.Count; i++)
        {
            parameters.Add(new NpgsqlParameter($"c{i}", _columns[i].Value(state) ?? DBNull.Value));
        }
        if (_view is not null)
        {
            parameters.Add(new NpgsqlParameter("view", _view(id, state, expectedVersion + 1)));
        }
        if (expectedVersion != 0)
        {
            parameters.Add(new NpgsqlParameter("version", expectedVersion));
        }
        var rows = await CommitBatcher.RunAsync(_writer, _db, new Statement(expectedVersion == 0 ? _insert : _update, parameters));
        if (rows != 1)
        {
            throw new StaleStateException(_table, id, expectedVersion);
        }
        return expectedVersion + 1;
    }
}
