using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Marketplace.Web.Api;
using Microsoft.OpenApi;

namespace Marketplace.Web.Infrastructure;

/// <summary>
/// Completes the OpenAPI document the dashboards' types are generated from: the bearer scheme and who needs it, the problem
/// responses every operation can give (one shared schema with the stable <c>code</c>), and which fields a response always has.
/// </summary>
internal static class ApiDocument
{
    public const string Bearer = "Bearer";
    public const string ProblemSchema = "Problem";
    public const string ProblemContentType = "application/problem+json";

    public static void Configure(OpenApiOptions options)
    {
        options.AddSchemaTransformer(RequireNonNullable);
        options.AddDocumentTransformer(Complete);
    }

    /// <summary>
    /// A property whose C# type is not nullable is always in the JSON (the API writes every property, nulls too): required.
    /// A nullable one stays optional so that a request may leave it out, unless the request marks it required (<see cref="RequiredFields"/>).
    /// </summary>
    private static Task RequireNonNullable(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken _)
    {
        var type = context.JsonTypeInfo.Type;
        var nullable = Nullable.GetUnderlyingType(type) is not null || context.JsonPropertyInfo is { IsGetNullable: true };
        // Times are written by the API's own converter (ISO 8601 with an offset), which hides their JSON type from the generator.
        if (schema.Type is null && schema.Format == "date-time")
        {
            schema.Type = nullable ? JsonSchemaType.String | JsonSchemaType.Null : JsonSchemaType.String;
        }
        // Enums are written as their names (JsonStringEnumConverter).
        if (schema.Type is null && schema.Enum is { Count: > 0 } && (Nullable.GetUnderlyingType(type) ?? type).IsEnum)
        {
            schema.Type = JsonSchemaType.String;
        }
        if (context.JsonPropertyInfo is null && schema.Properties is not null)
        {
            StateBounds(schema, type, context.ApplicationServices.GetRequiredService<MarketLimits>());
        }
        // A request field marked required (RequiredFields) is never null where it is valid: the document says so, and lists it
        // in its type's required fields below.
        if (context.JsonPropertyInfo is { } marked && RequiredFields.IsRequired(marked.AttributeProvider))
        {
            if (schema.Type is { } withNull && withNull.HasFlag(JsonSchemaType.Null))
            {
                schema.Type = withNull & ~JsonSchemaType.Null;
            }
            schema.OneOf?.ToList().Where(s => s.Type == JsonSchemaType.Null).ToList().ForEach(s => schema.OneOf.Remove(s));
            // Blank text is as missing as none.
            if (schema.Type == JsonSchemaType.String && schema.Format is null && schema.MinLength is null)
            {
                schema.MinLength = 1;
            }
        }
        if (context.JsonPropertyInfo is not null || context.JsonTypeInfo.Kind != System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object
            || schema.Properties is null)
        {
            return Task.CompletedTask;
        }
        foreach (var property in context.JsonTypeInfo.Properties)
        {
            if (property.Get is not null && (!property.IsGetNullable || RequiredFields.IsRequired(property.AttributeProvider)) && schema.Properties.ContainsKey(property.Name))
            {
                schema.Required ??= new HashSet<string>(StringComparer.Ordinal);
                schema.Required.Add(property.Name);
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>The bounds the market's rules set on request fields, from the rules themselves (and the configured limits).</summary>
    private static void StateBounds(OpenApiSchema schema, Type type, MarketLimits limits)
    {
        IReadOnlyDictionary<string, Bounds> ranges = type == typeof(BidBody) ? BidOrderRules.Ranges(limits).Concat(ComputeRules.Ranges(limits)).DistinctBy(r => r.Key).ToDictionary()
            : type == typeof(PoolRequest) || type == typeof(PoolPatchRequest) ? PoolRules.Ranges(limits)
            : type == typeof(ProgramRequest) ? ProgramTermsRules.Ranges(limits)
            : type == typeof(BudgetRaiseRequest) ? new Dictionary<string, Bounds> { ["amountFen"] = new(1, limits.MaxProgramFen) }
            : new Dictionary<string, Bounds>();
        foreach (var (name, bounds) in ranges)
        {
            if (schema.Properties!.TryGetValue(name, out var property) && property is OpenApiSchema field)
            {
                field.Minimum = bounds.Min.ToString(System.Globalization.CultureInfo.InvariantCulture);
                field.Maximum = bounds.Max.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        var lengths = type == typeof(ProgramRequest)
            ? new Dictionary<string, int> { ["name"] = NameRules.MaxLength, ["issuer"] = NameRules.MaxLength, ["assumptions"] = ProgramTermsRules.MaxAssumptionsLength }
            : type == typeof(BudgetRaiseRequest) || type == typeof(ProgramCloseRequest)
                ? new Dictionary<string, int> { ["reason"] = ProgramTermsRules.MaxReasonLength }
                : [];
        foreach (var (name, max) in lengths)
        {
            if (schema.Properties!.TryGetValue(name, out var property) && property is OpenApiSchema field)
            {
                field.MaxLength = max;
            }
        }
        if (type == typeof(ProgramRequest) && schema.Properties!.TryGetValue("allowedTenantKinds", out var kinds) && kinds is OpenApiSchema list)
        {
            list.MinItems = 1;
            list.MaxItems = ProgramTermsRules.MaxTenantKinds;
            if (list.Items is OpenApiSchema item)
            {
                item.Enum = Enum.GetNames<TenantKind>().Select(n => (JsonNode)JsonValue.Create(n)!).ToList();
            }
        }
    }

    private static Task Complete(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken _)
    {
        document.Info.Title = "Compute Voucher Marketplace API";
        document.Info.Description = "GPU time for small AI firms, paid in part with government compute vouchers.";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[Bearer] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "An access token of the marketplace's sign-in (or, in development, a development token).",
        };
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        document.Components.Schemas[ProblemSchema] = Problem();

        // The document describes the API; the Orleans dashboard's own endpoints are not part of it.
        foreach (var path in document.Paths.Keys.Where(p => !p.StartsWith("/api/", StringComparison.Ordinal)).ToList())
        {
            document.Paths.Remove(path);
        }
        OptionalWhenNullableInRequests(document);

        foreach (var description in context.DescriptionGroups.SelectMany(g => g.Items))
        {
            var path = "/" + description.RelativePath?.Split('?')[0].Trim('/'); // a group's "/" route is the group's path
            if (document.Paths is null || !document.Paths.TryGetValue(path, out var item) || item.Operations is null
                || description.HttpMethod is null || !item.Operations.TryGetValue(new HttpMethod(description.HttpMethod), out var operation))
            {
                continue;
            }
            var metadata = description.ActionDescriptor.EndpointMetadata;
            var authorized = metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
            if (authorized)
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Bearer, document)] = [] }];
            }
            if (!path.StartsWith("/api/", StringComparison.Ordinal))
            {
                continue;
            }
            operation.Responses ??= new OpenApiResponses();
            foreach (var status in ProblemStatuses(description, authorized))
            {
                operation.Responses.TryAdd(status.ToString(), new OpenApiResponse());
            }
            // Every error answer, declared here or on the endpoint, is a problem of the one shared shape.
            foreach (var (status, response) in operation.Responses.ToList())
            {
                if (int.TryParse(status, out var code) && code >= 400)
                {
                    operation.Responses[status] = new OpenApiResponse
                    {
                        Description = response.Description is { Length: > 0 } given ? given : ReasonPhrase(code),
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            [ProblemContentType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
                        },
                    };
                }
            }
        }
        // Error answers all name the shared problem schema: the framework's own problem types are left unused.
        document.Components.Schemas.Remove("ProblemDetails");
        document.Components.Schemas.Remove("HttpValidationProblemDetails");
        return Task.CompletedTask;
    }

    /// <summary>
    /// The problems an operation can answer, from what the endpoint is: every call may be rate limited (429) or meet a cluster
    /// briefly away (503); one that takes input may find it malformed (400) or breaking a rule (422); one that names a thing
    /// in its path may not find it (404); one that changes state may conflict with it (409); one that needs a token may have
    /// none (401) or the wrong role (403).
    /// </summary>
    private static IEnumerable<int> ProblemStatuses(Microsoft.AspNetCore.Mvc.ApiExplorer.ApiDescription description, bool authorized)
    {
        var takesInput = description.ParameterDescriptions.Count > 0;
        var changes = description.HttpMethod is not ("GET" or "HEAD");
        if (takesInput || changes)
        {
            yield return StatusCodes.Status400BadRequest;
        }
        if (authorized)
        {
            yield return StatusCodes.Status401Unauthorized;
            yield return StatusCodes.Status403Forbidden;
        }
        if (description.RelativePath?.Contains('{') == true)
        {
            yield return StatusCodes.Status404NotFound;
        }
        if (changes)
        {
            yield return StatusCodes.Status409Conflict;
        }
        if (takesInput || changes)
        {
            yield return StatusCodes.Status422UnprocessableEntity;
        }
        yield return StatusCodes.Status429TooManyRequests;
        yield return StatusCodes.Status503ServiceUnavailable;
    }

    /// <summary>
    /// The generator marks every constructor parameter required. In a request a nullable field may be left out (the API then
    /// answers with which fields it needs, all at once): only the non-nullable ones stay required in request bodies' schemas,
    /// which are the fields a request marks required (RequireNonNullable has made their types non-null).
    /// </summary>
    private static void OptionalWhenNullableInRequests(OpenApiDocument document)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<IOpenApiSchema>();
        foreach (var operation in document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []))
        {
            foreach (var media in operation.RequestBody?.Content?.Values ?? [])
            {
                if (media.Schema is not null)
                {
                    pending.Push(media.Schema);
                }
            }
        }
        while (pending.TryPop(out var schema))
        {
            if (schema is OpenApiSchemaReference reference)
            {
                if (reference.Reference.Id is { } id && seen.Add(id) && document.Components?.Schemas?.TryGetValue(id, out var target) == true)
                {
                    pending.Push(target);
                }
                continue;
            }
            foreach (var nested in (schema.OneOf ?? []).Concat(schema.AnyOf ?? []).Concat(schema.AllOf ?? []))
            {
                pending.Push(nested);
            }
            if (schema.Items is not null)
            {
                pending.Push(schema.Items);
            }
            if (schema.AdditionalProperties is not null)
            {
                pending.Push(schema.AdditionalProperties);
            }
            foreach (var (name, property) in schema.Properties ?? new Dictionary<string, IOpenApiSchema>())
            {
                pending.Push(property);
                if (IsNullable(property) && schema.Required is not null && schema is OpenApiSchema editable)
                {
                    editable.Required!.Remove(name);
                }
            }
        }
    }

    private static bool IsNullable(IOpenApiSchema schema) =>
        schema.Type is { } type && type.HasFlag(JsonSchemaType.Null) || schema.OneOf?.Any(s => s.Type == JsonSchemaType.Null) == true;

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);

    /// <summary>RFC 9457 problem details with the API's stable <c>code</c> (its Chinese text is in the pages' strings).</summary>
    private static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "RFC 9457 problem details. `code` is stable and names the problem; `type` is /problems/{code}.",
        Required = new HashSet<string>(StringComparer.Ordinal) { "type", "title", "status", "code" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null },
            ["instance"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Stable name of the problem, e.g. validation, not-found, rate-limited." },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "Field errors by JSON field name (validation problems, and rule breaks that name a field).",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
            ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String },
        },
    };
}
