using Marketplace.Domain.Rules;
using Marketplace.Matching;
using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

public sealed partial class MarketGrain
{
    private MatchDecision Decide(OpenOrder order)
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        return MatchingEngine.Decide(order.Request, _view.Ladder, firstBookable, firstBookable + _limits.HorizonHours, order.Excluded,
            order.FundableStarts(_view), _routing);
    }

    /// <summary>Why nothing matched, in the words a tenant would want: for a voucher bid, why its voucher could pay no pool with room.</summary>
    private (string Code, string Reason) Describe(OpenOrder order, MatchDecision decision)
    {
        if (decision.Reason == NoMatchReason.NotFundable && order.Terms is { } terms && decision.UnfundablePool is { } pool)
        {
            var spec = _view.Spec(pool.PoolId);
            var start = decision.UnfundableStartHour;
            if (terms.RefusalFor(spec.ProviderCreditCode, Hours.ToTime(start), Hours.ToTime(start + order.Order.DurationHours)) is { } refusal)
            {
                return (refusal.Code, $"no pool with room can be paid by the voucher: {refusal.Reason}");
            }
        }
        return decision.Reason switch
        {
            NoMatchReason.NoPools => ("no-pools", "no pool of this GPU model is listed yet"),
            NoMatchReason.OutsideHorizon => ("outside-horizon", "no start in the requested window lies inside the booking horizon"),
            NoMatchReason.NoPoolInProvinces => ("no-pool-in-provinces", "no pool of this GPU model is listed in the allowed provinces"),
            NoMatchReason.GangTooLarge => ("gang-too-large", "no single pool has that many GPUs of this model"),
            NoMatchReason.PriceAboveLimit => ("price-above-limit", "capacity is free only at asks above the bid's limit"),
            NoMatchReason.NotFundable => ("voucher-cannot-pay", "no pool with room can be paid by the voucher"),
            NoMatchReason.BelowReliability => ("below-reliability",
                "pools with room at the bid's price belong to providers below its minimum reliability, or too new to have a score"),
            _ => ("no-capacity", "no pool has the GPUs free for the whole duration in the start window"),
        };
    }

    private ReservationPlan PlanFor(OpenOrder order, MatchDecision decision)
    {
        var spec = _view.Spec(decision.Pool!.PoolId);
        return new ReservationPlan(Ids.Reservation(order.BidId, order.NextReservation++), order.BidId, order.TenantId, spec.PoolId, spec.ProviderId,
            spec.ProviderCreditCode, Model, spec.Site.Province, spec.Site.SiteId, decision.StartHour, order.Order.DurationHours, order.Order.GpuCount,
            decision.FenPerGpuHour, order.Order.VoucherId, spec.ProviderName, spec.Site.Name, decision.Pool!.ReliabilityBasisPoints);
    }

    /// <summary>Reads what the bid's voucher can pay for, unless the market knows it already.</summary>
    private async Task<FundingTerms?> TermsAsync(OpenOrder order)
    {
        if (order.Order.VoucherId is { } voucherId && (order.Terms is null || order.TermsEpoch != _termsEpoch))
        {
            var epoch = _termsEpoch;
            order.Terms = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).FundingTerms(order.TenantId);
            order.TermsEpoch = epoch;
        }
        return order.Terms;
    }

    /// <summary>Whether the market knows the voucher's terms as of now (a cash bid needs none).</summary>
    private bool TermsCurrent(OpenOrder order) => order.Order.VoucherId is null || (order.Terms is not null && order.TermsEpoch == _termsEpoch);

    /// <summary>
    /// Matching, the same for every bid: decide on a pool the voucher can pay, take its hours from the view, write the
    /// fill, and let <see cref="OutcomePolicy"/> say what follows. <paramref name="decided"/> is a plan
    /// the caller already decided and took (a resting bid, decided in priority order with the others of its pass).
    /// </summary>
    private async Task<MatchEnd> MatchAsync(OpenOrder order, ReservationPlan? decided = null)
    {
        (string Code, string Reason)? lastRefusal = null;
        var voucherChanges = 0;
        for (var attempt = 1; ; attempt++)
        {
            var plan = decided;
            decided = null;
            if (plan is null)
            {
                if (await TermsAsync(order) is { Usable: false } terms)
                {
                    return new MatchEnd.Refused(terms.RefusalCode!, terms.RefusalReason!);
                }
                var decision = Decide(order);
                if (!decision.Matched)
                {
                    var (code, reason) = lastRefusal ?? Describe(order, decision);
                    return new MatchEnd.Unmatched(code, reason, lastRefusal is not null || decision.Reason == NoMatchReason.NotFundable);
                }
                plan = PlanFor(order, decision);
                _view.Take(plan);
            }
            var outcome = await CommitFillAsync(order, plan);
            var refusal = (Code: outcome.Code!, Reason: outcome.Reason!);
            var kind = outcome.Kind;
            if (refusal.Code == VoucherChanged && ++voucherChanges <= MaxVoucherChanges)
            {
                attempt--; // another market or the voucher itself moved its balance meanwhile: not this bid's attempt
                continue;
            }
            switch (OutcomePolicy.After(kind, refusal.Code, attempt))
            {
                case NextStep.Record:
                    return new MatchEnd.Filled(outcome.Reservation!, outcome.Bid);
                case NextStep.Reject:
                    return new MatchEnd.Refused(refusal.Code, refusal.Reason);
                case NextStep.RefreshAndRetry:
                    await RefreshPoolAsync(plan.PoolId);
                    break;
                case NextStep.ExcludeAndRetry:
                    order.Excluded.Add(plan.PoolId);
                    order.Terms = null; // the voucher refused what its terms allowed: read them again
                    lastRefusal = refusal;
                    break;
                default:
                    var last = lastRefusal ?? (kind == AttemptOutcome.CapacityRefused ? ("no-capacity", "capacity kept changing; no pool confirmed") : refusal);
                    return new MatchEnd.Unmatched(last.Item1, last.Item2, kind == AttemptOutcome.FundingRefused || lastRefusal is not null);
            }
        }
    }

    /// <summary>
    /// Writes the fill; gives the hours back to the view if it was refused. If the write's fate is unknown (the database
    /// failed mid-commit) the hours stay out of the view until the pool is read again.
    /// </summary>
    private async Task<FillAttempt> CommitFillAsync(OpenOrder order, ReservationPlan plan)
    {
        var started = _timer.GetTimestamp();
        FillAttempt attempt;
        try
        {
            attempt = await WriteFillAsync(order, plan);
        }
        catch
        {
            _view.Finished(plan, written: true);
            _unsure[plan.PoolId] = _view.BeginRead(); // a read that begins after this shows whether it was written
            throw;
        }
        _view.Finished(plan, attempt.Kind == AttemptOutcome.Filled);
        MarketMetrics.SagaDuration.Record(_timer.GetElapsedTime(started).TotalMilliseconds);
        if (attempt.Kind != AttemptOutcome.Filled)
        {
            MarketMetrics.SagasFailed.Add(1, new KeyValuePair<string, object?>("reason", attempt.Code));
            RematchSoon();
        }
        else
        {
            var r = attempt.Reservation!;
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportFill(new FillTick(r.Id, Model, r.Plan.Province, r.Plan.SiteId, r.Plan.Gpus,
                r.Plan.Hours, r.Plan.FenPerGpuHour, r.VoucherFen, r.UpdatedAt)).Ignore();
        }
        return attempt;
    }

    /// <summary>
    /// The fill as one statement (<see cref="MarketStore.Fill"/>): the voucher's share is worked out from the voucher as
    /// stored now (its version guards it), the bid is written in its final state with the fill, and all of it commits
    /// with the fills queued beside it. Only then is anything answered or pushed.
    /// </summary>
    private async Task<FillAttempt> WriteFillAsync(OpenOrder order, ReservationPlan plan)
    {
        if (plan.VoucherId is not { } voucherId)
        {
            return await WriteFillOnceAsync(order, plan);
        }
        // Fills on one voucher are written one after another: each reads the balance the one before it left, rather than
        // all reading the same version and all but one being refused.
        var before = _voucherWrites.GetValueOrDefault(voucherId) ?? Task.CompletedTask;
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _voucherWrites[voucherId] = mine.Task;
        try
        {
            await before;
            return await WriteFillOnceAsync(order, plan);
        }
        finally
        {
            mine.SetResult();
            if (_voucherWrites.TryGetValue(voucherId, out var last) && last == mine.Task)
            {
                _voucherWrites.Remove(voucherId);
            }
        }
    }

    private const string VoucherChanged = "voucher-changed";

    /// <summary>Times in a row a bid's fill may find its voucher moved by someone else before that counts as an attempt.</summary>
    private const int MaxVoucherChanges = 5;

    private async Task<FillAttempt> WriteFillOnceAsync(OpenOrder order, ReservationPlan plan)
    {
        VoucherRow? voucher = null;
        HoldRow? hold = null;
        if (plan.VoucherId is { } voucherId)
        {
            // The voucher's terms as of now (a notice published since the decision applies to this fill too).
            if ((await TermsAsync(order))?.RefusalFor(plan.ProviderCreditCode, plan.StartsAt, plan.EndsAt) is var (termsCode, termsReason))
            {
                return FillAttempt.Refused(AttemptOutcome.FundingRefused, termsCode, termsReason);
            }
            voucher = await _voucherStore.LoadRowAsync(voucherId);
            var refusal = voucher is null || voucher.TenantId != plan.TenantId
                ? ("voucher-not-found", "the tenant holds no such voucher")
                : FundingTerms.StateRefusal(voucher.State);
            var (amount, code, reason) = refusal is var (refusedCode, refusedWhy)
                ? (0, refusedCode, refusedWhy)
                : FundingRules.Share(plan.CostFen, 0, stackingAllowed: true, voucher!.CoverageBasisPoints, voucher.AvailableFen);
            if (code is not null)
            {
                return FillAttempt.Refused(AttemptOutcome.FundingRefused, code, reason!);
            }
            hold = new HoldRow(plan.ReservationId, HoldState.Held, plan.CostFen, amount, 0, plan.ProviderId, voucher!.Stackable);
        }
        var now = _clock.GetUtcNow();
        var voucherFen = hold?.AmountFen ?? 0;
        var reservation = new ReservationRecord(plan, ReservationState.Confirmed, voucherFen, plan.CostFen - voucherFen,
            voucher?.ProgramId, null, null, false, plan.StartHour + plan.Hours, null, now, now);
        var reservationView = reservation.ToView(plan.ReservationId, 1);
        var bid = order.Record is { } record
            ? record with { State = BidState.Filled, Fills = [.. record.Fills, FillOf(reservationView)], ReasonCode = null, Reason = null, UpdatedAt = now }
            : null;
        var terms = _view.TermsOf(plan); // as when it was decided: a read since may have brought newer terms
        var cashHold = Money.CashHold(plan.CostFen, voucherFen, _limits.CancellationChargeBasisPoints);
        var write = new FillWrite(Model, _epoch, order.BidId, bid, order.BidVersion, reservation, terms, voucher, hold, cashHold,
            _limits.MaxUnsettledFenPerTenant);
        _faults.After(SagaFaults.FillDecided, plan.ReservationId);
        if (await _writer.ExecuteAsync(_marketStore.Fill(write, now)) != 1)
        {
            switch (await _marketStore.WhyRefusedAsync(Model, _epoch, order.BidId, bid is null ? null : order.BidVersion, plan.PoolId, terms, voucher,
                plan.TenantId, cashHold, plan.CostFen, _limits.MaxUnsettledFenPerTenant))
            {
                case WriteRefusal.InsufficientCash:
                    return FillAttempt.Refused(AttemptOutcome.FundingRefused, CashRules.InsufficientCash,
                        $"the company has less prepaid cash available than the {cashHold} fen this rental holds");
                case WriteRefusal.UnsettledCapReached:
                    return FillAttempt.Refused(AttemptOutcome.FundingRefused, CashRules.UnsettledCapReached,
                        $"this rental's {plan.CostFen} fen would take the company's unsettled reservations past {_limits.MaxUnsettledFenPerTenant} fen; "
                        + "wait for some to be settled or cancel some");
                case WriteRefusal.Fenced:
                    throw Fenced();
                case WriteRefusal.BidChanged when order.BidVersion == 0:
                    throw new BidAlreadyWrittenException(order.BidId);
                case WriteRefusal.BidChanged:
                    throw BidChanged();
                case WriteRefusal.VoucherChanged:
                    return FillAttempt.Refused(AttemptOutcome.CapacityRefused, VoucherChanged, "the voucher changed while the bid was being matched");
                default:
                    return FillAttempt.Refused(AttemptOutcome.CapacityRefused, "pool-changed", "the pool changed what it sells while the bid was being matched");
            }
        }
        _faults.After(SagaFaults.FillCommitted, plan.ReservationId);

        // Durable: now it can be shown.
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Reservation, plan.TenantId, plan.ReservationId, 1, now, Reservation: reservationView));
        BidView? bidView = null;
        if (bid is not null)
        {
            order.Record = bid;
            order.BidVersion++;
            bidView = bid.ToView(order.BidId, order.BidVersion);
            GrainFactory.Publish(new MarketUpdate(UpdateKind.Bid, plan.TenantId, order.BidId, bidView.Version, now, Bid: bidView));
        }
        if (voucher is not null)
        {
            var held = (voucher with { HeldFen = checked(voucher.HeldFen + voucherFen), Version = voucher.Version + 1 }).ToView();
            GrainFactory.Publish(new MarketUpdate(UpdateKind.Voucher, held.TenantId, held.Id, held.Version, now, Voucher: held));
        }
        Pool(plan.PoolId).Booked().Ignore();
        return new FillAttempt(AttemptOutcome.Filled, reservationView, bidView, null, null);
    }

    /// <summary>
    /// Writes the state a bid the market holds is left in without a fill (resting, rejected, expired); a new bid's first
    /// write.
    /// </summary>
    private async Task<BidView> WriteBidAsync(OpenOrder order, BidState state, string? code, string? reason)
    {
        var view = await WriteBidRowAsync(order.BidId, order.Record!, order.BidVersion, order.Record!.Ended(state, code, reason));
        order.Record = order.Record with { State = view.State, ReasonCode = view.ReasonCode, Reason = view.Reason, UpdatedAt = view.UpdatedAt };
        order.BidVersion = view.Version;
        return view;
    }

    /// <summary>Changes a bid the market does not hold in memory (cancel, expiry, an interrupted fill), as stored now.</summary>
    private async Task<BidView> ChangeStoredBidAsync(string bidId, Func<BidRecord, BidRecord> change)
    {
        var stored = await _bidStore.LoadAsync(bidId) ?? throw DomainException.NotFound("bid", bidId);
        return await WriteBidRowAsync(bidId, stored.State, stored.Version, change(stored.State));
    }

    /// <summary>
    /// Every bid the market changes is written here or with its fill, fenced by the market's epoch and guarded by the
    /// version it read, so within an epoch the market is the bid's only writer. The bid grain reads it from the row.
    /// </summary>
    private async Task<BidView> WriteBidRowAsync(string bidId, BidRecord current, long version, BidRecord next)
    {
        if (ReferenceEquals(next, current) && version > 0)
        {
            return current.ToView(bidId, version); // a repeat of a change already made
        }
        var now = _clock.GetUtcNow();
        next = next with { UpdatedAt = now };
        if (await _writer.ExecuteAsync(_marketStore.Bid(Model, _epoch, bidId, next, version)) != 1)
        {
            throw await _marketStore.WhyRefusedAsync(Model, _epoch, bidId, version) switch
            {
                WriteRefusal.Fenced => Fenced(),
                _ when version == 0 => new BidAlreadyWrittenException(bidId),
                _ => BidChanged(),
            };
        }
        var view = next.ToView(bidId, version + 1);
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Bid, next.TenantId, bidId, view.Version, now, Bid: view));
        if (next.State != current.State && next.State is not (BidState.Pending or BidState.Resting or BidState.Filled))
        {
            MarketMetrics.BidsEnded.Add(1, new KeyValuePair<string, object?>("state", next.State.ToString()), new KeyValuePair<string, object?>("reason", next.ReasonCode));
            using (_logger.BeginScope(new KeyValuePair<string, object>[] { new("Bid", bidId) }))
            {
                _logger.LogInformation("Bid {BidId} {State}: {Code}", bidId, next.State, next.ReasonCode);
            }
        }
        return view;
    }

    /// <summary>The bid is not as the market read it: it is recovered from what is stored (a passing fault, not the caller's).</summary>
    private static DomainException BidChanged() =>
        new(ErrorKind.Unavailable, "bid-changed", "the bid changed while it was being matched; it is read again");

    /// <summary>A fault that is not the bid's: a silo or the database failed on the way, and asking again may succeed.</summary>
    private static bool IsTransient(Exception e) =>
        e is not (DomainException or BidAlreadyWrittenException) || e is DomainException { Kind: ErrorKind.Unavailable };

    /// <summary>Matches a bid just accepted (or one recovered after a crash).</summary>
    private async Task<BidView> MatchNewAsync(OpenOrder order)
    {
        _busyBids.Add(order.BidId);
        try
        {
            // Inside the try: a pool that cannot answer now interrupts matching like any other step, and the bid is recovered.
            await RefreshLapsedHoldsAsync();
            return await MatchAsync(order) switch
            {
                MatchEnd.Filled filled => filled.Bid ?? await RecordFillAsync(order.BidId, filled.Reservation),
                MatchEnd.Refused refused => await WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason),
                MatchEnd.Unmatched unmatched => await RestOrRejectAsync(order, unmatched.Code, unmatched.Reason),
                _ => throw new InvalidOperationException("unknown end of matching"),
            };
        }
        catch (Exception e) when (IsTransient(e) && !_fenced)
        {
            _toRecover.Add(order.BidId); // matching stopped part way: recover it from what the database says (if anything)
            if (order.BidVersion == 0)
            {
                // Not answered, so not accepted; if its write did commit, the same request again finds it. The caller hears
                // the fault as it is (a database fault says so).
                throw;
            }
            throw new DomainException(ErrorKind.Unavailable, "matching-interrupted",
                $"bid {order.BidId} was accepted but matching was interrupted; it will be completed shortly");
        }
        finally
        {
            _busyBids.Remove(order.BidId);
        }
    }

    /// <summary>A bid nothing can fill now: an IOC bid is rejected, a GTC bid rests in the book (if there is room).</summary>
    private async Task<BidView> RestOrRejectAsync(OpenOrder order, string code, string reason)
    {
        if (order.Order.TimeInForce == TimeInForce.Ioc)
        {
            return await WriteBidAsync(order, BidState.Rejected, code, reason);
        }
        if (order.Order.GoodUntil <= _clock.GetUtcNow())
        {
            return await WriteBidAsync(order, BidState.Expired, "expired", "the bid expired unfilled");
        }
        if (_resting.Count >= _options.MaxRestingBids)
        {
            return await WriteBidAsync(order, BidState.Rejected, "book-full", "the market holds as many resting bids as it can; try again later");
        }
        if (_orders.Values.Count(o => o.TenantId == order.TenantId) >= _options.MaxRestingBidsPerTenant)
        {
            return await WriteBidAsync(order, BidState.Rejected, "too-many-resting-bids",
                $"the company already has {_options.MaxRestingBidsPerTenant} bids resting in this market; cancel some or let them fill first");
        }
        var view = await WriteBidAsync(order, BidState.Resting, code, reason);
        await AddRestingAsync(order);
        if (!TermsCurrent(order))
        {
            RematchSoon(); // its voucher's terms changed while it was being matched: try it again with the new ones
        }
        return view;
    }

    private async Task<BidView> RecordFillAsync(string bidId, ReservationView reservation)
    {
        try
        {
            var bid = await ChangeStoredBidAsync(bidId, b => b.WithFill(FillOf(reservation)));
            MarketMetrics.Fills.Add(1, new KeyValuePair<string, object?>("gpu_model", Model), new KeyValuePair<string, object?>("province", reservation.Plan.Province));
            return bid;
        }
        catch (DomainException e) when (e.Code == "bid-not-open")
        {
            // The bid ended meanwhile (e.g. a duplicate match after a crash): give the capacity and funds back.
            _logger.LogWarning("Bid {BidId} closed before reservation {ReservationId} could fill it; cancelling the reservation", bidId, reservation.Id);
            await Reservation(reservation.Id).Cancel("bid-closed", "the bid had already ended");
            await RefreshPoolAsync(reservation.Plan.PoolId);
            return (await Bid(bidId).Get())!;
        }
    }

    /// <summary>A one-way nudge (a saga failed, capacity appeared): asks for another pass but never waits for one.</summary>
    public Task RematchResting()
    {
        if (_rematching)
        {
            _rematchAgain = true;
            return Task.CompletedTask;
        }
        return RematchRestingAsync();
    }

    private void RematchSoon()
    {
        if (_resting.Count > 0)
        {
            this.AsReference<IMarketGrain>().RematchResting().Ignore();
        }
    }

    /// <summary>
    /// Rule 5: when capacity appears, resting bids are matched in price-time priority. All decisions of one pass are
    /// made (and their hours taken) in priority order before any saga runs, so a later bid never takes what an
    /// earlier one was given.
    /// </summary>
    private async Task RematchRestingAsync()
    {
        if (_rematching)
        {
            // A pass is running: ask for another, and return when one that started after this request has finished.
            _rematchAgain = true;
            _passWaiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await _passWaiters.Task;
            return;
        }
        _rematching = true;
        try
        {
            for (var pass = 1; ; pass++)
            {
                _rematchAgain = false;
                var waiters = _passWaiters;
                _passWaiters = null;
                var matched = 0;
                try
                {
                    matched = await RematchPassAsync();
                }
                catch (Exception e)
                {
                    // A pass that fails part way is not the fault of whoever asked for it: the bids stay in the book (or are
                    // recovered) and the next pass tries them again.
                    _logger.LogWarning(e, "A pass of matching resting bids failed; the next pass tries them again");
                }
                finally
                {
                    waiters?.TrySetResult();
                }
                if (_passWaiters is null && (matched == 0 || !_rematchAgain || pass >= MaxRematchPasses))
                {
                    break;
                }
            }
        }
        finally
        {
            _rematching = false;
        }
    }

    private async Task<int> RematchPassAsync()
    {
        await ExpireDueAsync();
        await RefreshLapsedHoldsAsync();
        var waiting = _resting.InPriorityOrder().Select(r => _orders.GetValueOrDefault(r.BidId)).OfType<OpenOrder>()
            .Where(o => !_busyBids.Contains(o.BidId)).ToList();
        await Task.WhenAll(waiting.Where(o => !TermsCurrent(o)).Select(ReadTermsForPassAsync));
        var matches = new List<(OpenOrder Order, ReservationPlan? Plan)>();
        foreach (var order in waiting.Where(o => _resting.Contains(o.BidId) && !_busyBids.Contains(o.BidId)))
        {
            if (!TermsCurrent(order))
            {
                continue; // its voucher did not answer (or changed meanwhile): it waits for the next pass
            }
            ReservationPlan? plan = null;
            if (order.Terms is not { Usable: false }) // a bid whose voucher can pay nothing any more ends with why
            {
                var decision = Decide(order);
                if (!decision.Matched)
                {
                    continue;
                }
                plan = PlanFor(order, decision);
                _view.Take(plan);
            }
            _resting.Remove(order.BidId);
            _busyBids.Add(order.BidId);
            matches.Add((order, plan));
        }
        if (matches.Count > 0)
        {
            _demandChanged = true;
            await Task.WhenAll(matches.Select(m => CompleteRestingMatchAsync(m.Order, m.Plan)));
        }
        return matches.Count;
    }

    private async Task ReadTermsForPassAsync(OpenOrder order)
    {
        try
        {
            await TermsAsync(order);
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "The voucher of resting bid {BidId} did not answer; the bid waits for the next pass", order.BidId);
        }
    }

    private async Task CompleteRestingMatchAsync(OpenOrder order, ReservationPlan? plan)
    {
        var stillResting = true;
        try
        {
            var end = plan is null
                ? new MatchEnd.Refused(order.Terms!.RefusalCode!, order.Terms.RefusalReason!)
                : await MatchAsync(order, plan);
            switch (end)
            {
                case MatchEnd.Filled filled:
                    _orders.Remove(order.BidId);
                    stillResting = false;
                    if (filled.Bid is null)
                    {
                        await RecordFillAsync(order.BidId, filled.Reservation);
                    }
                    break;
                case MatchEnd.Refused refused:
                    _orders.Remove(order.BidId);
                    stillResting = false;
                    await WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason);
                    break;
                default:
                    break; // it stays in the book; a saga that failed has already asked for another pass
            }
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "Matching resting bid {BidId} was interrupted; recovering it", order.BidId);
            _orders.Remove(order.BidId);
            stillResting = false;
            _toRecover.Add(order.BidId);
        }
        finally
        {
            _busyBids.Remove(order.BidId);
            // Back in the book unless it left it meanwhile (cancelled, expired): the order must still be the market's.
            if (stillResting && _orders.TryGetValue(order.BidId, out var current) && ReferenceEquals(current, order))
            {
                _resting.Add(new RestingBid(order.BidId, order.Order.MaxFenPerGpuHour, order.Order.GpuCount, order.Sequence, DemandProvince(order)));
            }
        }
    }

    private async Task AddRestingAsync(OpenOrder order)
    {
        if (order.Order.AllowedProvinces is not { Count: > 0 } && !_tenantProvinces.ContainsKey(order.TenantId))
        {
            var tenant = await GrainFactory.GetGrain<ITenantGrain>(order.TenantId).Get();
            _tenantProvinces[order.TenantId] = tenant?.Registration.Province ?? "Unknown";
        }
        order.Sequence = ++_sequence;
        _orders[order.BidId] = order;
        _resting.Add(new RestingBid(order.BidId, order.Order.MaxFenPerGpuHour, order.Order.GpuCount, order.Sequence, DemandProvince(order)));
        _demandChanged = true;
    }

    private void RemoveResting(string bidId)
    {
        _resting.Remove(bidId);
        _orders.Remove(bidId);
        _demandChanged = true;
    }

    /// <summary>Where unfilled demand shows on the map: the province the bid asks for, else the tenant's own.</summary>
    private string DemandProvince(OpenOrder order) =>
        order.Order.AllowedProvinces is { Count: > 0 } provinces ? provinces[0] : _tenantProvinces.GetValueOrDefault(order.TenantId, "Unknown");

    private Task ReportDemand(CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        if (_demandChanged || now - _demandReportedAt >= TimeSpan.FromSeconds(10) || now < _demandReportedAt)
        {
            _demandChanged = false;
            _demandReportedAt = now;
            var demand = _resting.ByProvince().Select(d => new RestingDemand(d.Province, d.Bids, d.Gpus)).ToList();
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportRestingDemand(Model, demand).Ignore();
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Refreshes the view of each pool whose unconfirmed holds have begun to lapse, so a decision never counts capacity
    /// that a lapsed hold has given back (the pool's own timer tells the market too, but only on its next tick).
    /// </summary>
    private async Task RefreshLapsedHoldsAsync()
    {
        RequireCurrent();
        var lapsed = _view.Lapsed(_clock.GetUtcNow()).Union(_unsure.Keys).ToList();
        if (lapsed.Count > 0)
        {
            await Task.WhenAll(lapsed.Select(RefreshPoolAsync));
        }
    }

    /// <summary>Reads the pool and its running holds as stored, the fills of this market included.</summary>
    private async Task RefreshPoolAsync(string poolId)
    {
        var readFrom = _view.BeginRead();
        var now = _clock.GetUtcNow();
        var booking = await _marketStore.LoadPoolAsync(poolId, Hours.Floor(now));
        if (booking is not null && booking.State.Spec.GpuModel == Model)
        {
            _view.Apply(booking, now, _limits.HorizonHours + 2, readFrom);
        }
        if (_unsure.TryGetValue(poolId, out var mark) && mark < readFrom)
        {
            _unsure.Remove(poolId);
        }
    }

    private static Fill FillOf(ReservationView r)
    {
        var kept = r.KeptHours;
        var cost = Money.Cost(r.Plan.FenPerGpuHour, r.Plan.Gpus, kept);
        var voucher = Money.Prorate(r.VoucherFen, kept, r.Plan.Hours);
        return new Fill(r.Id, r.Plan.PoolId, r.Plan.ProviderId, r.Plan.Province, r.Plan.SiteId, r.Plan.StartsAt, r.EndsAt, r.Plan.Gpus,
            r.Plan.FenPerGpuHour, cost, voucher, cost - voucher, r.Plan.ProviderReliabilityBasisPoints);
    }
}
