using System.Collections;
using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json;

namespace Marketplace.Web.Infrastructure;

/// <summary>
/// The one home of what a request must contain: a request record marks each field it cannot do without
/// <c>[property: Required]</c>. <see cref="Check.Of{T}"/> answers a missing one (null, or a blank string) with the field error
/// "is required", and the API document lists the same fields in the schema's <c>required</c> (<see cref="ApiDocument"/>), so
/// the two cannot disagree. The records stay all-nullable so that a missing field is a 422 naming it, never the
/// deserializer's 400. A field required only in some cases (a GPU model for a bid on one model) is not marked: its
/// endpoint says when it is needed.
/// </summary>
internal static class RequiredFields
{
    private sealed record Field(PropertyInfo Property, string Name, RequiredAttribute? Required, Type? Nested, bool IsList);

    private static readonly ConcurrentDictionary<Type, IReadOnlyList<Field>> Fields = new();

    /// <summary>True when a request property is marked required.</summary>
    public static bool IsRequired(ICustomAttributeProvider? property) => property?.IsDefined(typeof(RequiredAttribute), inherit: true) == true;

    /// <summary>The JSON names of the fields <paramref name="type"/> marks required.</summary>
    public static IReadOnlyList<string> Of(Type type) => FieldsOf(type).Where(f => f.Required is not null).Select(f => f.Name).ToList();

    /// <summary>
    /// The missing required fields of a request by their JSON path, in declaration order, looking into nested request
    /// records and lists of them ("sites[0].siteId").
    /// </summary>
    public static IEnumerable<string> Missing(object request, string prefix = "")
    {
        foreach (var field in FieldsOf(request.GetType()))
        {
            var value = field.Property.GetValue(request);
            if (field.Required is { } required && !required.IsValid(value))
            {
                yield return prefix + field.Name;
                continue;
            }
            if (value is null || field.Nested is null)
            {
                continue;
            }
            if (!field.IsList)
            {
                foreach (var missing in Missing(value, $"{prefix}{field.Name}."))
                {
                    yield return missing;
                }
                continue;
            }
            var index = 0;
            foreach (var item in (IEnumerable)value)
            {
                if (item is not null)
                {
                    foreach (var missing in Missing(item, $"{prefix}{field.Name}[{index}]."))
                    {
                        yield return missing;
                    }
                }
                index++;
            }
        }
    }

    private static IReadOnlyList<Field> FieldsOf(Type type) => Fields.GetOrAdd(type, static t => t
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.GetMethod is not null && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
        .Select(p =>
        {
            var element = ElementType(p.PropertyType);
            var nested = element ?? p.PropertyType;
            var marks = nested.IsClass && nested != typeof(string) && nested.Assembly == typeof(RequiredFields).Assembly
                && nested.GetProperties().Any(IsRequired);
            return new Field(p, JsonNamingPolicy.CamelCase.ConvertName(p.Name), p.GetCustomAttribute<RequiredAttribute>(inherit: true),
                marks ? nested : null, element is not null);
        })
        .ToList());

    private static Type? ElementType(Type type) =>
        type == typeof(string) ? null
        : type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
}
