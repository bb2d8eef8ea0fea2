// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { OApp, Origin, MessagingFee } from "@layerzerolabs/lz-evm-oapp-v2/contracts/oapp/OApp.sol";
import { Ownable } from "@openzeppelin/contracts/access/Ownable.sol";
import { ReentrancyGuard } from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { Math } from "@openzeppelin/contracts/utils/math/Math.sol";
import { IPriceFeed } from "../PriceFeed.sol";
import { AccountedMessages } from "./AccountedMessages.sol";

/// @title AccountedHub
/// @notice The hub of the hub-accounted money market (the shape of Folks Finance xChain and SODAX): every balance
/// lives here. Spokes are token pools: a deposit there is credited here by a DEPOSIT message, and tokens leave a
/// spoke only on a WITHDRAW message this hub sends after debiting the account.
///
/// Debt accrues interest. Each debt asset has a borrow index (RAY) that grows linearly between accruals at the
/// asset's rate per second (Compound's model): index(t) = index + index * rate * (t - lastUpdate) / RAY, rounded
/// down. An account owes scaledDebt * index(now) / RAY, rounded up; a borrow adds amount * RAY / index scaled
/// units rounded up, a repayment removes amount * RAY / index rounded down (all of it when it repays everything).
/// Health therefore drifts every block with no event: every view values debt at the block's timestamp.
///
/// Health factor, in WAD:   HF = sum_i value(collateral_i) * liquidationThreshold_i / sum_j value(debt_j)
/// with value(amount) = amount * priceWad / 10^decimals, every division rounding down (OpenZeppelin mulDiv), and
/// prices refused by name when non-positive (`InvalidPrice`) or older than the asset's heartbeat (`StalePrice`).
///
/// Liquidation is one hub transaction, no auction (Aave v3's terms): an account with HF < 1 may be repaid up to
/// `closeFactor` of one debt position (all of it below `fullCloseBelowHf`), and the liquidator receives that value
/// plus a fixed `bonus` of one collateral position, credited to its own hub position on the same spoke; it
/// recovers the tokens with `withdraw`, a LayerZero message to that spoke. Debt left without collateral is written
/// off against the reserve.
contract AccountedHub is OApp, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using AccountedMessages for AccountedMessages.Message;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant RAY = 1e27;

    struct Asset {
        IPriceFeed feed;
        /// 10^(18 - feed decimals): turns a feed answer into a WAD price.
        uint256 priceScale;
        uint8 decimals;
        /// Borrowable debt assets have their token on the hub; collateral-only assets have none.
        IERC20 token;
        /// Share of collateral value that may be borrowed against (WAD). Zero for debt-only assets.
        uint64 ltv;
        /// Share of collateral value that counts toward the health factor (WAD). Zero for debt-only assets.
        uint64 liquidationThreshold;
        /// Largest age (seconds) of a feed answer the hub uses; an older answer is stale.
        uint32 heartbeat;
        bool listed;
    }

    /// A debt asset's borrow index (RAY) as of `lastUpdate`, and the rate it grows at (RAY per second).
    struct Rate {
        uint256 index;
        uint256 ratePerSecond;
        uint64 lastUpdate;
    }

    struct LiquidationParams {
        /// Largest share of one debt position a liquidation repays (WAD) while HF >= fullCloseBelowHf.
        uint64 closeFactor;
        /// Below this HF (WAD) a liquidation may repay the whole position.
        uint64 fullCloseBelowHf;
        /// Collateral value the liquidator receives on top of the value it repays (WAD).
        uint64 bonus;
    }

    struct CollateralMarket {
        uint32 eid;
        uint16 assetId;
    }

    enum CollateralChange {
        Deposit,
        Withdraw,
        Seize,
        Liquidation
    }

    enum DebtChange {
        Borrow,
        Repay,
        Liquidation,
        WriteOff
    }

    mapping(uint16 assetId => Asset) public assets;
    mapping(uint16 assetId => Rate) public rates;
    uint16[] public debtAssetIds;
    CollateralMarket[] public collateralMarkets;
    mapping(uint32 eid => mapping(uint16 assetId => bool)) public isCollateralMarket;

    mapping(address account => mapping(uint32 eid => mapping(uint16 assetId => uint256))) public collateral;
    /// Number of nonzero collateral positions of an account, so insolvency is an O(1) check.
    mapping(address account => uint256) public collateralPositions;
    mapping(address account => mapping(uint16 assetId => uint256)) public scaledDebt;
    mapping(uint16 assetId => uint256) public totalScaledDebt;
    mapping(uint16 assetId => uint256) public reserve;
    mapping(uint16 assetId => uint256) public badDebt;

    LiquidationParams public liquidationParams;
    uint256 public liquidationCount;
    uint256 public withdrawalCount;

    event AssetListed(
        uint16 indexed assetId, address feed, uint8 decimals, address token, uint64 ltv, uint64 liquidationThreshold, uint32 heartbeat
    );
    event CollateralMarketListed(uint32 indexed eid, uint16 indexed assetId);
    event LiquidationParamsSet(uint64 closeFactor, uint64 fullCloseBelowHf, uint64 bonus);
    /// The borrow index was brought to `timestamp` (before any change of scaled debt or rate at that time).
    event IndexAccrued(uint16 indexed assetId, uint256 index, uint256 timestamp);
    event InterestRateSet(uint16 indexed assetId, uint256 ratePerSecond, uint256 index, uint256 timestamp);
    event CollateralUpdated(
        address indexed account, uint32 indexed eid, uint16 indexed assetId, uint256 balance, int256 delta, CollateralChange change
    );
    /// `scaledBalance` is the account's scaled debt after the change; `amountDelta` the tokens it stood for.
    event DebtUpdated(
        address indexed account, uint16 indexed assetId, uint256 scaledBalance, int256 amountDelta, uint256 index, DebtChange change
    );
    event Liquidated(
        uint256 indexed liquidationId,
        address indexed account,
        address indexed liquidator,
        uint16 debtAssetId,
        uint256 repayAmount,
        uint32 eid,
        uint16 collateralAssetId,
        uint256 seizeAmount,
        uint256 healthFactor
    );
    event WithdrawSent(
        uint256 indexed withdrawalId, address indexed account, uint32 indexed eid, uint16 assetId, uint256 amount, address receiver, bytes32 guid
    );
    event BadDebtWrittenOff(address indexed account, uint16 indexed assetId, uint256 amount, uint256 coveredByReserve, uint256 uncovered);
    event ReserveFunded(uint16 indexed assetId, uint256 amount, uint256 reserve);
    event LiquiditySupplied(uint16 indexed assetId, uint256 amount);

    error AssetNotListed(uint16 assetId);
    error NotDebtAsset(uint16 assetId);
    error NotCollateralMarket(uint32 eid, uint16 assetId);
    error InvalidParams();
    error ZeroAmount();
    error ZeroReceiver();
    error BorrowLimitExceeded(uint256 debtValue, uint256 borrowPower);
    error InsufficientLiquidity(uint16 assetId, uint256 available);
    error InsufficientCollateral(uint256 balance, uint256 amount);
    error WithdrawUnhealthy(uint256 healthFactor);
    error AccountHealthy(uint256 healthFactor);
    error SelfLiquidation();
    error NothingToSeize();
    error SeizeBelowMinimum(uint256 seizeAmount, uint256 minSeize);
    error StalePrice(uint16 assetId, uint256 updatedAt, uint256 heartbeat);
    error InvalidPrice(uint16 assetId, int256 answer);

    constructor(address endpoint_, address owner_) OApp(endpoint_, owner_) Ownable(owner_) { }

    // ------------------------------------------------------------------ configuration

    /// @param heartbeat largest age in seconds of a feed answer the hub accepts for this asset (nonzero)
    function listAsset(
        uint16 assetId,
        IPriceFeed feed,
        uint8 decimals_,
        IERC20 token,
        uint64 ltv,
        uint64 liquidationThreshold,
        uint32 heartbeat
    ) external onlyOwner {
        uint8 feedDecimals = feed.decimals();
        if (feedDecimals > 18 || ltv > liquidationThreshold || liquidationThreshold >= WAD || heartbeat == 0) revert InvalidParams();
        if (!assets[assetId].listed && address(token) != address(0)) {
            debtAssetIds.push(assetId);
            rates[assetId] = Rate(RAY, 0, uint64(block.timestamp));
            emit InterestRateSet(assetId, 0, RAY, block.timestamp);
        }
        assets[assetId] = Asset(feed, 10 ** (18 - feedDecimals), decimals_, token, ltv, liquidationThreshold, heartbeat, true);
        emit AssetListed(assetId, address(feed), decimals_, address(token), ltv, liquidationThreshold, heartbeat);
    }

    function listCollateralMarket(uint32 eid, uint16 assetId) external onlyOwner {
        Asset storage a = assets[assetId];
        if (!a.listed || a.liquidationThreshold == 0) revert AssetNotListed(assetId);
        if (isCollateralMarket[eid][assetId]) return;
        isCollateralMarket[eid][assetId] = true;
        collateralMarkets.push(CollateralMarket(eid, assetId));
        emit CollateralMarketListed(eid, assetId);
    }

    function setLiquidationParams(LiquidationParams calldata p) external onlyOwner {
        if (p.closeFactor == 0 || p.closeFactor > WAD || p.fullCloseBelowHf > WAD || p.bonus >= WAD) revert InvalidParams();
        liquidationParams = p;
        emit LiquidationParamsSet(p.closeFactor, p.fullCloseBelowHf, p.bonus);
    }

    /// @notice Sets a debt asset's interest rate (RAY per second), after accruing what the old rate earned.
    function setInterestRate(uint16 assetId, uint256 ratePerSecond) external onlyOwner {
        _debtAsset(assetId);
        if (ratePerSecond > RAY / 1e6) revert InvalidParams(); // at most ~3,150 % a year: an index that cannot overflow
        uint256 index = _accrue(assetId);
        rates[assetId].ratePerSecond = ratePerSecond;
        emit InterestRateSet(assetId, ratePerSecond, index, block.timestamp);
    }

    function supplyLiquidity(uint16 assetId, uint256 amount) external {
        _debtAsset(assetId).token.safeTransferFrom(msg.sender, address(this), amount);
        emit LiquiditySupplied(assetId, amount);
    }

    function fundReserve(uint16 assetId, uint256 amount) external {
        _debtAsset(assetId).token.safeTransferFrom(msg.sender, address(this), amount);
        reserve[assetId] += amount;
        emit ReserveFunded(assetId, amount, reserve[assetId]);
    }

    // ------------------------------------------------------------------ views

    function collateralMarketCount() external view returns (uint256) {
        return collateralMarkets.length;
    }

    function debtAssetCount() external view returns (uint256) {
        return debtAssetIds.length;
    }

    /// @return price of one whole unit of the asset in USD, WAD; reverts InvalidPrice / StalePrice.
    function priceWad(uint16 assetId) public view returns (uint256 price) {
        Asset storage a = assets[assetId];
        if (!a.listed) revert AssetNotListed(assetId);
        (, int256 answer,, uint256 updatedAt,) = a.feed.latestRoundData();
        if (answer <= 0) revert InvalidPrice(assetId, answer);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > a.heartbeat) revert StalePrice(assetId, updatedAt, a.heartbeat);
        price = uint256(answer) * a.priceScale;
    }

    /// @return the borrow index (RAY) of a debt asset at `timestamp` (not before its last accrual).
    function indexAt(uint16 assetId, uint256 timestamp) public view returns (uint256) {
        Rate memory r = rates[assetId];
        if (timestamp <= r.lastUpdate) return r.index;
        return r.index + Math.mulDiv(r.index, r.ratePerSecond * (timestamp - r.lastUpdate), RAY);
    }

    function currentIndex(uint16 assetId) public view returns (uint256) {
        return indexAt(assetId, block.timestamp);
    }

    /// @return what `account` owes of `assetId` now, interest included (rounded up).
    function debtOf(address account, uint16 assetId) public view returns (uint256) {
        return Math.mulDiv(scaledDebt[account][assetId], currentIndex(assetId), RAY, Math.Rounding.Ceil);
    }

    /// @return collateralValue sum of collateral values (WAD USD)
    /// @return thresholdValue  sum of collateral values weighted by liquidation threshold
    /// @return borrowPower     sum of collateral values weighted by LTV
    /// @return debtValue       sum of debt values, interest to this block included
    /// @return healthFactor    thresholdValue / debtValue in WAD; type(uint256).max without debt
    function accountData(address account)
        public
        view
        returns (uint256 collateralValue, uint256 thresholdValue, uint256 borrowPower, uint256 debtValue, uint256 healthFactor)
    {
        uint256 n = collateralMarkets.length;
        for (uint256 i; i < n; ++i) {
            CollateralMarket memory m = collateralMarkets[i];
            uint256 amount = collateral[account][m.eid][m.assetId];
            if (amount == 0) continue;
            Asset storage a = assets[m.assetId];
            uint256 v = Math.mulDiv(amount, priceWad(m.assetId), 10 ** a.decimals);
            collateralValue += v;
            thresholdValue += Math.mulDiv(v, a.liquidationThreshold, WAD);
            borrowPower += Math.mulDiv(v, a.ltv, WAD);
        }
        n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            uint16 d = debtAssetIds[i];
            if (scaledDebt[account][d] == 0) continue;
            debtValue += Math.mulDiv(debtOf(account, d), priceWad(d), 10 ** assets[d].decimals);
        }
        healthFactor = debtValue == 0 ? type(uint256).max : Math.mulDiv(thresholdValue, WAD, debtValue);
    }

    function healthFactor(address account) public view returns (uint256 hf) {
        (,,,, hf) = accountData(account);
    }

    /// @notice What `liquidate` would repay and seize now, with the same arithmetic (zeros for a healthy account).
    function previewLiquidation(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId)
        external
        view
        returns (uint256 repayAmount, uint256 seizeAmount, uint256 hf)
    {
        hf = healthFactor(account);
        if (hf >= WAD) return (0, 0, hf);
        (repayAmount, seizeAmount) = _quoteLiquidation(account, debtAssetId, maxRepay, eid, collateralAssetId, hf);
    }

    /// @notice Native fee of one WITHDRAW message to spoke `eid`.
    function quoteWithdraw(uint32 eid) public view returns (uint256) {
        AccountedMessages.Message memory m = AccountedMessages.Message(AccountedMessages.WITHDRAW, address(0), 0, 0, address(0), 0);
        return _quote(eid, m.encode(), "", false).nativeFee;
    }

    // ------------------------------------------------------------------ borrowing

    function borrow(uint16 assetId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Asset storage a = _debtAsset(assetId);
        uint256 available = a.token.balanceOf(address(this)) - reserve[assetId];
        if (amount > available) revert InsufficientLiquidity(assetId, available);
        uint256 index = _accrue(assetId);
        _changeDebt(msg.sender, assetId, int256(Math.mulDiv(amount, RAY, index, Math.Rounding.Ceil)), int256(amount), index, DebtChange.Borrow);
        (,, uint256 borrowPower, uint256 debtValue,) = accountData(msg.sender);
        if (debtValue > borrowPower) revert BorrowLimitExceeded(debtValue, borrowPower);
        a.token.safeTransfer(msg.sender, amount);
    }

    /// @return repaid what was repaid: `amount`, or the whole debt when `amount` is more
    function repay(uint16 assetId, uint256 amount, address onBehalfOf) external nonReentrant returns (uint256 repaid) {
        if (amount == 0) revert ZeroAmount();
        Asset storage a = _debtAsset(assetId);
        uint256 index = _accrue(assetId);
        repaid = _repay(onBehalfOf, assetId, amount, index, DebtChange.Repay);
        a.token.safeTransferFrom(msg.sender, address(this), repaid);
    }

    // ------------------------------------------------------------------ liquidation

    /// @notice Repays debt of an account whose HF < 1 and takes its collateral, plus the bonus, into the caller's
    ///         own hub position on the same spoke (recovered with `withdraw`).
    /// @param maxRepay   most of the debt asset the liquidator will pay; capped by the close factor and the collateral
    /// @param eid        the spoke whose collateral is seized
    /// @param minSeize   the least collateral the liquidator accepts (slippage guard)
    function liquidate(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId, uint256 minSeize)
        external
        nonReentrant
        returns (uint256 repayAmount, uint256 seizeAmount)
    {
        if (account == msg.sender) revert SelfLiquidation();
        uint256 hf = healthFactor(account);
        if (hf >= WAD) revert AccountHealthy(hf);
        (repayAmount, seizeAmount) = _quoteLiquidation(account, debtAssetId, maxRepay, eid, collateralAssetId, hf);
        if (seizeAmount == 0 || repayAmount == 0) revert NothingToSeize();
        if (seizeAmount < minSeize) revert SeizeBelowMinimum(seizeAmount, minSeize);

        assets[debtAssetId].token.safeTransferFrom(msg.sender, address(this), repayAmount);
        _repay(account, debtAssetId, repayAmount, _accrue(debtAssetId), DebtChange.Liquidation);
        _changeCollateral(account, eid, collateralAssetId, -int256(seizeAmount), CollateralChange.Seize);
        _changeCollateral(msg.sender, eid, collateralAssetId, int256(seizeAmount), CollateralChange.Liquidation);
        emit Liquidated(++liquidationCount, account, msg.sender, debtAssetId, repayAmount, eid, collateralAssetId, seizeAmount, hf);
        if (collateralPositions[account] == 0 && _hasDebt(account)) _writeOff(account);
    }

    /// @notice Writes off the debt of an account that has no collateral left. Anyone may call it.
    function writeOffBadDebt(address account) external {
        if (collateralPositions[account] != 0) revert InvalidParams();
        _writeOff(account);
    }

    // ------------------------------------------------------------------ withdrawals

    /// @notice Debits the caller's collateral on spoke `eid` and sends a WITHDRAW message that pays `receiver` there.
    ///         With debt, the caller must stay at HF >= 1. msg.value pays the LayerZero fee (see quoteWithdraw);
    ///         the excess is refunded.
    function withdraw(uint32 eid, uint16 assetId, uint256 amount, address receiver)
        external
        payable
        nonReentrant
        returns (uint256 withdrawalId, bytes32 guid)
    {
        if (amount == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroReceiver();
        if (!isCollateralMarket[eid][assetId]) revert NotCollateralMarket(eid, assetId);
        uint256 balance = collateral[msg.sender][eid][assetId];
        if (amount > balance) revert InsufficientCollateral(balance, amount);
        _changeCollateral(msg.sender, eid, assetId, -int256(amount), CollateralChange.Withdraw);
        if (_hasDebt(msg.sender)) {
            uint256 hf = healthFactor(msg.sender);
            if (hf < WAD) revert WithdrawUnhealthy(hf);
        }
        withdrawalId = ++withdrawalCount;
        AccountedMessages.Message memory m =
            AccountedMessages.Message(AccountedMessages.WITHDRAW, msg.sender, assetId, amount, receiver, withdrawalId);
        guid = _lzSend(eid, m.encode(), "", MessagingFee(msg.value, 0), payable(msg.sender)).guid;
        emit WithdrawSent(withdrawalId, msg.sender, eid, assetId, amount, receiver, guid);
    }

    // ------------------------------------------------------------------ LayerZero

    function _lzReceive(Origin calldata origin, bytes32, bytes calldata payload, address, bytes calldata) internal override {
        AccountedMessages.Message memory m = AccountedMessages.decode(payload);
        if (m.kind != AccountedMessages.DEPOSIT) revert AccountedMessages.UnknownMessageKind(m.kind);
        if (!isCollateralMarket[origin.srcEid][m.assetId]) revert NotCollateralMarket(origin.srcEid, m.assetId);
        _changeCollateral(m.account, origin.srcEid, m.assetId, int256(m.amount), CollateralChange.Deposit);
    }

    // ------------------------------------------------------------------ internals

    function _debtAsset(uint16 assetId) internal view returns (Asset storage a) {
        a = assets[assetId];
        if (address(a.token) == address(0)) revert NotDebtAsset(assetId);
    }

    /// Brings the asset's stored index to this block (emitting IndexAccrued when it moves) and returns it.
    function _accrue(uint16 assetId) internal returns (uint256 index) {
        Rate storage r = rates[assetId];
        if (r.lastUpdate == block.timestamp) return r.index;
        index = indexAt(assetId, block.timestamp);
        r.index = index;
        r.lastUpdate = uint64(block.timestamp);
        emit IndexAccrued(assetId, index, block.timestamp);
    }

    /// Repays up to `amount` of the account's debt at `index` (accrued to now): all of the scaled debt when it covers
    /// the whole debt, else amount * RAY / index rounded down.
    function _repay(address account, uint16 assetId, uint256 amount, uint256 index, DebtChange change) internal returns (uint256 repaid) {
        uint256 scaled = scaledDebt[account][assetId];
        uint256 owed = Math.mulDiv(scaled, index, RAY, Math.Rounding.Ceil);
        repaid = Math.min(amount, owed);
        uint256 scaledRepaid = repaid == owed ? scaled : Math.mulDiv(repaid, RAY, index);
        _changeDebt(account, assetId, -int256(scaledRepaid), -int256(repaid), index, change);
    }

    function _quoteLiquidation(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId, uint256 hf)
        internal
        view
        returns (uint256 repayAmount, uint256 seizeAmount)
    {
        Asset storage d = _debtAsset(debtAssetId);
        if (!isCollateralMarket[eid][collateralAssetId]) revert NotCollateralMarket(eid, collateralAssetId);
        Asset storage c = assets[collateralAssetId];
        LiquidationParams memory p = liquidationParams;
        uint256 debtPrice = priceWad(debtAssetId);
        uint256 collateralPrice = priceWad(collateralAssetId);

        uint256 closeFactor = hf < p.fullCloseBelowHf ? WAD : p.closeFactor;
        repayAmount = Math.min(maxRepay, Math.mulDiv(debtOf(account, debtAssetId), closeFactor, WAD));
        uint256 repayValue = Math.mulDiv(repayAmount, debtPrice, 10 ** d.decimals);
        seizeAmount = Math.mulDiv(Math.mulDiv(repayValue, WAD + p.bonus, WAD), 10 ** c.decimals, collateralPrice);

        uint256 available = collateral[account][eid][collateralAssetId];
        if (seizeAmount > available) {
            // Not enough of this collateral: take all of it and repay only what it is worth at the bonus,
            // rounding the repayment up so the protocol never gives collateral away.
            seizeAmount = available;
            repayValue = Math.mulDiv(Math.mulDiv(available, collateralPrice, 10 ** c.decimals), WAD, WAD + p.bonus);
            repayAmount = Math.mulDiv(repayValue, 10 ** d.decimals, debtPrice, Math.Rounding.Ceil);
        }
    }

    function _changeCollateral(address account, uint32 eid, uint16 assetId, int256 delta, CollateralChange change) internal {
        uint256 before = collateral[account][eid][assetId];
        uint256 balance = delta >= 0 ? before + uint256(delta) : before - uint256(-delta);
        collateral[account][eid][assetId] = balance;
        if (before == 0 && balance != 0) ++collateralPositions[account];
        else if (before != 0 && balance == 0) --collateralPositions[account];
        emit CollateralUpdated(account, eid, assetId, balance, delta, change);
    }

    function _changeDebt(address account, uint16 assetId, int256 scaledDelta, int256 amountDelta, uint256 index, DebtChange change)
        internal
    {
        uint256 s = scaledDebt[account][assetId];
        uint256 balance = scaledDelta >= 0 ? s + uint256(scaledDelta) : s - uint256(-scaledDelta);
        scaledDebt[account][assetId] = balance;
        totalScaledDebt[assetId] =
            scaledDelta >= 0 ? totalScaledDebt[assetId] + uint256(scaledDelta) : totalScaledDebt[assetId] - uint256(-scaledDelta);
        emit DebtUpdated(account, assetId, balance, amountDelta, index, change);
    }

    function _writeOff(address account) internal {
        uint256 n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            uint16 d = debtAssetIds[i];
            if (scaledDebt[account][d] == 0) continue;
            uint256 index = _accrue(d);
            uint256 amount = Math.mulDiv(scaledDebt[account][d], index, RAY, Math.Rounding.Ceil);
            uint256 covered = Math.min(amount, reserve[d]);
            reserve[d] -= covered;
            badDebt[d] += amount - covered;
            _changeDebt(account, d, -int256(scaledDebt[account][d]), -int256(amount), index, DebtChange.WriteOff);
            emit BadDebtWrittenOff(account, d, amount, covered, amount - covered);
        }
    }

    function _hasDebt(address account) internal view returns (bool) {
        uint256 n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            if (scaledDebt[account][debtAssetIds[i]] != 0) return true;
        }
        return false;
    }
}
