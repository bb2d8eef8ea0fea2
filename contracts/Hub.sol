// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { OApp, Origin, MessagingFee, MessagingReceipt } from "@layerzerolabs/lz-evm-oapp-v2/contracts/oapp/OApp.sol";
import { MessagingParams } from "@layerzerolabs/lz-evm-protocol-v2/contracts/interfaces/ILayerZeroEndpointV2.sol";
import { Ownable } from "@openzeppelin/contracts/access/Ownable.sol";
import { ReentrancyGuard } from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { Math } from "@openzeppelin/contracts/utils/math/Math.sol";
import { IPriceFeed } from "./PriceFeed.sol";
import { Messages } from "./Messages.sol";

/// @title Hub
/// @notice The accounting side of the reference hub-and-spoke money market.
///
/// Debt lives here: accounts borrow the hub's debt assets. Collateral lives on spokes: the hub keeps a
/// mirror of every (account, spoke eid, asset) balance, credited by DEPOSIT messages and debited only by
/// hub decisions (approved withdrawals, liquidations), so the mirror never overstates what the spoke holds.
///
/// Health factor, in WAD:   HF = sum_i value(collateral_i) * liquidationThreshold_i / sum_j value(debt_j)
/// with value(amount) = amount * priceWad / 10^decimals, every division rounding down (OpenZeppelin mulDiv).
///
/// Liquidation is a Dutch auction (Maker Liquidations 2.0 style): `kick` opens an auction on an account
/// whose HF < 1; the bonus (discount on collateral) grows linearly from `minBonus` to `maxBonus` over
/// `auctionDuration` and then stays at `maxBonus`; after `auctionTail` the auction has expired and must be
/// kicked again. `take` repays debt here (capped by the close factor) and sends a SEIZE message to the spoke
/// holding the chosen collateral, which pays it to the taker's receiver. When an account has no collateral
/// left but still owes, its debt is written off against the reserve.
///
/// Prices: every asset is listed with a heartbeat. `priceWad` refuses a non-positive answer (`InvalidPrice`) and
/// an answer older than the heartbeat (`StalePrice`), so whatever values a position (borrow, the withdraw check,
/// kick, take, the `accountData`/`healthFactor` views) reverts by name while a price it needs is unusable. An
/// account is valued only at the prices of the assets it holds or owes, so an unusable price of one asset blocks
/// nothing for accounts without it. Repayments and deposits never need a price to go through (an auction they
/// would end stays open until prices are usable again).
///
/// Native fees: the hub never spends its own native balance. A take's SEIZE is paid by the taker (msg.value); a
/// withdraw reply is paid by its requester, up front, from the reply credit they funded on the hub
/// (`fundReplyCredit`). A request whose requester's credit does not cover the reply is decided all the same but
/// its reply waits (`WithdrawReplyPending`) until someone pays it with `sendWithdrawReply`.
contract Hub is OApp, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using Messages for Messages.Message;

    uint256 internal constant WAD = 1e18;
    uint8 internal constant PRICE_USABLE = 0;
    uint8 internal constant PRICE_INVALID = 1;
    uint8 internal constant PRICE_STALE = 2;

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

    /// A withdraw reply (release or reject) decided but not yet paid for.
    struct PendingReply {
        uint8 kind;
        address account;
        uint16 assetId;
        uint256 amount;
    }

    struct CollateralMarket {
        uint32 eid;
        uint16 assetId;
    }

    struct Auction {
        uint64 id;
        uint64 startedAt;
        address kicker;
        bool active;
    }

    struct AuctionParams {
        /// Largest share of one debt position a single take may repay (WAD).
        uint64 closeFactor;
        /// Bonus at kick time (WAD).
        uint64 minBonus;
        /// Bonus reached after auctionDuration and kept afterwards (WAD).
        uint64 maxBonus;
        /// Seconds over which the bonus grows from minBonus to maxBonus.
        uint32 auctionDuration;
        /// Seconds after kick at which the auction expires and must be kicked again.
        uint32 auctionTail;
    }

    enum EndReason {
        Healthy,
        Repaid,
        BadDebt,
        Expired
    }

    enum CollateralChange {
        Deposit,
        Withdraw,
        Seize
    }

    enum DebtChange {
        Borrow,
        Repay,
        Liquidation,
        WriteOff
    }

    mapping(uint16 assetId => Asset) public assets;
    uint16[] public debtAssetIds;
    CollateralMarket[] public collateralMarkets;
    mapping(uint32 eid => mapping(uint16 assetId => bool)) public isCollateralMarket;

    mapping(address account => mapping(uint32 eid => mapping(uint16 assetId => uint256))) public collateral;
    /// Number of nonzero collateral positions of an account, so insolvency is an O(1) check.
    mapping(address account => uint256) public collateralPositions;
    mapping(address account => mapping(uint16 assetId => uint256)) public debt;
    mapping(uint16 assetId => uint256) public totalDebt;
    mapping(uint16 assetId => uint256) public reserve;
    mapping(uint16 assetId => uint256) public badDebt;

    AuctionParams public auctionParams;
    mapping(address account => Auction) public auctions;
    uint64 public auctionCount;
    uint64 public takeCount;

    /// Native the account paid in for its withdraw replies; the hub's balance is the sum of these, nothing else.
    mapping(address account => uint256) public replyCredit;
    /// Replies decided but unpaid, by (spoke eid, the spoke's request id).
    mapping(uint32 eid => mapping(uint256 requestId => PendingReply)) public pendingReplies;

    event AssetListed(
        uint16 indexed assetId,
        address feed,
        uint8 decimals,
        address token,
        uint64 ltv,
        uint64 liquidationThreshold,
        uint32 heartbeat
    );
    event CollateralMarketListed(uint32 indexed eid, uint16 indexed assetId);
    event AuctionParamsSet(
        uint64 closeFactor, uint64 minBonus, uint64 maxBonus, uint32 auctionDuration, uint32 auctionTail
    );
    event CollateralUpdated(
        address indexed account, uint32 indexed eid, uint16 indexed assetId, uint256 balance, int256 delta, CollateralChange change
    );
    event DebtUpdated(address indexed account, uint16 indexed assetId, uint256 balance, int256 delta, DebtChange change);
    event WithdrawApproved(address indexed account, uint32 indexed eid, uint16 indexed assetId, uint256 amount, uint256 requestId);
    event WithdrawRefused(
        address indexed account, uint32 indexed eid, uint16 indexed assetId, uint256 amount, uint256 requestId, uint256 healthFactorAfter
    );
    event AuctionKicked(
        uint64 indexed auctionId, address indexed account, address indexed kicker, uint256 healthFactor, uint256 collateralValue, uint256 debtValue
    );
    event Take(
        uint64 indexed auctionId,
        address indexed account,
        address indexed taker,
        uint64 takeId,
        uint16 debtAssetId,
        uint256 repayAmount,
        uint32 collateralEid,
        uint16 collateralAssetId,
        uint256 seizeAmount,
        uint256 bonus,
        address receiver,
        bytes32 guid
    );
    event AuctionEnded(uint64 indexed auctionId, address indexed account, EndReason reason);
    event BadDebtWrittenOff(address indexed account, uint16 indexed assetId, uint256 amount, uint256 coveredByReserve, uint256 uncovered);
    event ReserveFunded(uint16 indexed assetId, uint256 amount, uint256 reserve);
    event LiquiditySupplied(uint16 indexed assetId, uint256 amount);
    event ReplyCreditChanged(address indexed account, uint256 credit, int256 delta);
    /// `fee`: the native the reply was paid with: from the requester's credit, the quoted fee; by sendWithdrawReply,
    /// the caller's msg.value (the endpoint refunds what exceeds the fee to the caller).
    event WithdrawReplySent(address indexed account, uint32 indexed eid, uint256 indexed requestId, uint8 kind, uint256 fee, address payer, bytes32 guid);
    event WithdrawReplyPending(address indexed account, uint32 indexed eid, uint256 indexed requestId, uint8 kind, uint256 fee, uint256 credit);

    error AssetNotListed(uint16 assetId);
    error NotDebtAsset(uint16 assetId);
    error NotCollateralMarket(uint32 eid, uint16 assetId);
    error InvalidParams();
    error ZeroAmount();
    error BorrowLimitExceeded(uint256 debtValue, uint256 borrowPower);
    error InsufficientLiquidity(uint16 assetId, uint256 available);
    error AccountHealthy(uint256 healthFactor);
    error AuctionActive(uint64 auctionId);
    error NoActiveAuction(address account);
    error AuctionExpired(uint64 auctionId);
    error NothingToSeize();
    error SeizeBelowMinimum(uint256 seizeAmount, uint256 minSeize);
    error ZeroReceiver();
    error StalePrice(uint16 assetId, uint256 updatedAt, uint256 heartbeat);
    error InvalidPrice(uint16 assetId, int256 answer);
    error InsufficientReplyCredit(uint256 credit, uint256 amount);
    error NoPendingReply(uint32 eid, uint256 requestId);
    error NativeTransferFailed(address to, uint256 amount);

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
        if (!assets[assetId].listed && address(token) != address(0)) debtAssetIds.push(assetId);
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

    function setAuctionParams(AuctionParams calldata p) external onlyOwner {
        if (
            p.closeFactor == 0 || p.closeFactor > WAD || p.minBonus > p.maxBonus || p.maxBonus >= WAD
                || p.auctionDuration == 0 || p.auctionTail < p.auctionDuration
        ) revert InvalidParams();
        auctionParams = p;
        emit AuctionParamsSet(p.closeFactor, p.minBonus, p.maxBonus, p.auctionDuration, p.auctionTail);
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

    /// @return price of one whole unit of the asset in USD, WAD.
    /// @dev Reverts `InvalidPrice` on an answer <= 0 and `StalePrice` on an answer older than the asset's heartbeat
    ///      (block.timestamp - updatedAt > heartbeat) or stamped later than this block (a round that cannot be
    ///      dated is not used either). src/health/health.ts `priceProblem` mirrors the rule.
    function priceWad(uint16 assetId) public view returns (uint256 price) {
        uint8 problem;
        int256 answer;
        uint256 updatedAt;
        uint256 heartbeat;
        (price, problem, answer, updatedAt, heartbeat) = _price(assetId);
        if (problem == PRICE_INVALID) revert InvalidPrice(assetId, answer);
        if (problem == PRICE_STALE) revert StalePrice(assetId, updatedAt, heartbeat);
    }

    function valueOf(uint16 assetId, uint256 amount) public view returns (uint256) {
        return Math.mulDiv(amount, priceWad(assetId), 10 ** assets[assetId].decimals);
    }

    /// @return collateralValue sum of collateral values (WAD USD)
    /// @return thresholdValue  sum of collateral values weighted by liquidation threshold
    /// @return borrowPower     sum of collateral values weighted by LTV
    /// @return debtValue       sum of debt values
    /// @return healthFactor    thresholdValue / debtValue in WAD; type(uint256).max without debt
    /// @dev Reads the price of each asset the account holds or owes, and of no other: reverts `StalePrice` /
    ///      `InvalidPrice` (naming the asset) when one of those is unusable; so do `healthFactor` and `valueOf`.
    function accountData(address account)
        public
        view
        returns (uint256 collateralValue, uint256 thresholdValue, uint256 borrowPower, uint256 debtValue, uint256 healthFactor)
    {
        (, collateralValue, thresholdValue, borrowPower, debtValue, healthFactor) = _accountData(account, true);
    }

    function healthFactor(address account) public view returns (uint256 hf) {
        (,,,, hf) = accountData(account);
    }

    /// @return bonus (WAD) a take would get at `timestamp` in an auction kicked at `startedAt`.
    function bonusAt(uint256 startedAt, uint256 timestamp) public view returns (uint256) {
        AuctionParams memory p = auctionParams;
        uint256 elapsed = timestamp > startedAt ? timestamp - startedAt : 0;
        if (elapsed >= p.auctionDuration) return p.maxBonus;
        return p.minBonus + Math.mulDiv(p.maxBonus - p.minBonus, elapsed, p.auctionDuration);
    }

    /// @notice What `take` would repay and seize now, with the same arithmetic.
    function previewTake(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId)
        public
        view
        returns (uint256 repayAmount, uint256 seizeAmount, uint256 bonus)
    {
        bonus = bonusAt(auctions[account].startedAt, block.timestamp);
        (repayAmount, seizeAmount) = _quoteTake(account, debtAssetId, maxRepay, eid, collateralAssetId, bonus);
    }

    /// @notice Native fee of one hub -> spoke message (a SEIZE from `take`, or a withdraw reply): what a requester's
    ///         reply credit must hold for its withdraw reply to be sent on arrival.
    function quoteSpokeMessage(uint32 eid) public view returns (uint256) {
        Messages.Message memory m = Messages.Message(Messages.SEIZE, address(0), 0, 0, address(0), 0);
        return _quote(eid, m.encode(), "", false).nativeFee;
    }

    // ------------------------------------------------------------------ borrowing

    function borrow(uint16 assetId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Asset storage a = _debtAsset(assetId);
        uint256 available = a.token.balanceOf(address(this)) - reserve[assetId];
        if (amount > available) revert InsufficientLiquidity(assetId, available);
        _changeDebt(msg.sender, assetId, int256(amount), DebtChange.Borrow);
        (,, uint256 borrowPower, uint256 debtValue,) = accountData(msg.sender);
        if (debtValue > borrowPower) revert BorrowLimitExceeded(debtValue, borrowPower);
        a.token.safeTransfer(msg.sender, amount);
    }

    /// @notice Repays up to `amount` of `onBehalfOf`'s debt; returns what was repaid.
    function repay(uint16 assetId, uint256 amount, address onBehalfOf) external nonReentrant returns (uint256 repaid) {
        Asset storage a = _debtAsset(assetId);
        repaid = Math.min(amount, debt[onBehalfOf][assetId]);
        if (repaid == 0) revert ZeroAmount();
        a.token.safeTransferFrom(msg.sender, address(this), repaid);
        _changeDebt(onBehalfOf, assetId, -int256(repaid), DebtChange.Repay);
        _settleAuction(onBehalfOf);
    }

    // ------------------------------------------------------------------ liquidation

    /// @notice Opens a Dutch auction on an account whose health factor is below 1.
    function kick(address account) external returns (uint64 auctionId) {
        Auction storage au = auctions[account];
        if (au.active) {
            if (block.timestamp <= uint256(au.startedAt) + auctionParams.auctionTail) revert AuctionActive(au.id);
            au.active = false;
            emit AuctionEnded(au.id, account, EndReason.Expired);
        }
        (uint256 collateralValue,,, uint256 debtValue, uint256 hf) = accountData(account);
        if (hf >= WAD) revert AccountHealthy(hf);
        auctionId = ++auctionCount;
        auctions[account] = Auction(auctionId, uint64(block.timestamp), msg.sender, true);
        emit AuctionKicked(auctionId, account, msg.sender, hf, collateralValue, debtValue);
    }

    /// @notice Buys collateral of an auctioned account by repaying its debt on the hub.
    /// @param maxRepay   most of the debt asset the taker will pay; capped by the close factor and the collateral
    /// @param eid        the spoke that holds the collateral to seize
    /// @param minSeize   the least collateral the taker accepts (slippage guard)
    /// @param receiver   who is paid the collateral on the spoke
    /// @dev msg.value pays the LayerZero fee of the SEIZE message (see quoteSpokeMessage); excess is refunded.
    function take(
        address account,
        uint16 debtAssetId,
        uint256 maxRepay,
        uint32 eid,
        uint16 collateralAssetId,
        uint256 minSeize,
        address receiver
    ) external payable nonReentrant returns (uint256 repayAmount, uint256 seizeAmount) {
        if (receiver == address(0)) revert ZeroReceiver();
        Auction memory au = auctions[account];
        if (!au.active) revert NoActiveAuction(account);
        if (block.timestamp > uint256(au.startedAt) + auctionParams.auctionTail) revert AuctionExpired(au.id);
        uint256 hf = healthFactor(account);
        if (hf >= WAD) revert AccountHealthy(hf);

        uint256 bonus = bonusAt(au.startedAt, block.timestamp);
        (repayAmount, seizeAmount) = _quoteTake(account, debtAssetId, maxRepay, eid, collateralAssetId, bonus);
        if (seizeAmount == 0 || repayAmount == 0) revert NothingToSeize();
        if (seizeAmount < minSeize) revert SeizeBelowMinimum(seizeAmount, minSeize);

        assets[debtAssetId].token.safeTransferFrom(msg.sender, address(this), repayAmount);
        _changeDebt(account, debtAssetId, -int256(repayAmount), DebtChange.Liquidation);
        _changeCollateral(account, eid, collateralAssetId, -int256(seizeAmount), CollateralChange.Seize);

        uint64 takeId = ++takeCount;
        Messages.Message memory m = Messages.Message(Messages.SEIZE, account, collateralAssetId, seizeAmount, receiver, takeId);
        MessagingReceipt memory receipt = _lzSend(eid, m.encode(), "", MessagingFee(msg.value, 0), payable(msg.sender));
        emit Take(
            au.id, account, msg.sender, takeId, debtAssetId, repayAmount, eid, collateralAssetId, seizeAmount, bonus, receiver, receipt.guid
        );
        _settleAuction(account);
    }

    /// @notice Writes off the debt of an account that has no collateral left. Anyone may call it.
    function writeOffBadDebt(address account) external {
        if (collateralPositions[account] != 0) revert InvalidParams();
        _writeOff(account);
    }

    // ------------------------------------------------------------------ LayerZero

    // ------------------------------------------------------------------ withdraw replies

    /// @notice Adds msg.value to `account`'s reply credit, which pays its withdraw replies up front.
    function fundReplyCredit(address account) external payable {
        if (msg.value == 0) revert ZeroAmount();
        _changeReplyCredit(account, int256(msg.value));
    }

    /// @notice Takes back `amount` of the caller's unspent reply credit.
    function withdrawReplyCredit(uint256 amount) external nonReentrant {
        uint256 credit = replyCredit[msg.sender];
        if (amount == 0) revert ZeroAmount();
        if (amount > credit) revert InsufficientReplyCredit(credit, amount);
        _changeReplyCredit(msg.sender, -int256(amount));
        (bool ok,) = payable(msg.sender).call{ value: amount }("");
        if (!ok) revert NativeTransferFailed(msg.sender, amount);
    }

    /// @notice Sends a withdraw reply that waits for its fee; anyone may pay it. msg.value pays the LayerZero fee
    ///         (see quoteSpokeMessage); the excess is refunded to the caller.
    function sendWithdrawReply(uint32 eid, uint256 requestId) external payable nonReentrant returns (bytes32 guid) {
        PendingReply memory p = pendingReplies[eid][requestId];
        if (p.kind == 0) revert NoPendingReply(eid, requestId);
        delete pendingReplies[eid][requestId];
        Messages.Message memory m = Messages.Message(p.kind, p.account, p.assetId, p.amount, address(0), requestId);
        guid = _lzSend(eid, m.encode(), "", MessagingFee(msg.value, 0), payable(msg.sender)).guid;
        emit WithdrawReplySent(p.account, eid, requestId, p.kind, msg.value, msg.sender, guid);
    }

    function _lzReceive(Origin calldata origin, bytes32, bytes calldata payload, address, bytes calldata)
        internal
        override
    {
        Messages.Message memory m = Messages.decode(payload);
        if (!isCollateralMarket[origin.srcEid][m.assetId]) revert NotCollateralMarket(origin.srcEid, m.assetId);
        // Native an executor delivers with the message (LayerZero's lzReceive value option) is the account's.
        if (msg.value != 0) _changeReplyCredit(m.account, int256(msg.value));
        if (m.kind == Messages.DEPOSIT) {
            _changeCollateral(m.account, origin.srcEid, m.assetId, int256(m.amount), CollateralChange.Deposit);
            _settleAuction(m.account);
        } else if (m.kind == Messages.WITHDRAW_REQUEST) {
            _handleWithdrawRequest(origin.srcEid, m);
        } else {
            revert Messages.UnknownMessageKind(m.kind);
        }
    }

    /// Decides a withdraw request, then replies if the requester's credit pays for it, else leaves the reply
    /// pending. An account that owes nothing needs no price (its HF is infinite either way); one that owes
    /// reverts with StalePrice/InvalidPrice while a price it needs is unusable, and the packet, verified, is
    /// delivered again once the price is usable.
    function _handleWithdrawRequest(uint32 eid, Messages.Message memory m) internal {
        uint256 balance = collateral[m.account][eid][m.assetId];
        uint256 hfAfter;
        bool approved;
        if (m.amount != 0 && m.amount <= balance && !auctions[m.account].active) {
            _changeCollateral(m.account, eid, m.assetId, -int256(m.amount), CollateralChange.Withdraw);
            hfAfter = _hasDebt(m.account) ? healthFactor(m.account) : type(uint256).max;
            approved = hfAfter >= WAD;
            if (!approved) _changeCollateral(m.account, eid, m.assetId, int256(m.amount), CollateralChange.Deposit);
        }
        if (approved) emit WithdrawApproved(m.account, eid, m.assetId, m.amount, m.ref);
        else emit WithdrawRefused(m.account, eid, m.assetId, m.amount, m.ref, hfAfter);

        m.kind = approved ? Messages.WITHDRAW_RELEASE : Messages.WITHDRAW_REJECT;
        bytes memory reply = m.encode();
        uint256 fee = _quote(eid, reply, "", false).nativeFee;
        uint256 credit = replyCredit[m.account];
        if (credit < fee) {
            pendingReplies[eid][m.ref] = PendingReply(m.kind, m.account, m.assetId, m.amount);
            emit WithdrawReplyPending(m.account, eid, m.ref, m.kind, fee, credit);
            return;
        }
        // Paid from the requester's credit, debited first; sent straight through the endpoint (OAppSender's
        // _lzSend would take the fee from msg.value, which is the executor's, not the requester's).
        _changeReplyCredit(m.account, -int256(fee));
        MessagingReceipt memory receipt = endpoint.send{ value: fee }(
            MessagingParams(eid, _getPeerOrRevert(eid), reply, "", false), m.account
        );
        emit WithdrawReplySent(m.account, eid, m.ref, m.kind, fee, m.account, receipt.guid);
    }

    // ------------------------------------------------------------------ internals

    /// The asset's feed answer as a WAD price, and whether the hub may use it (PRICE_USABLE), without reverting on
    /// a refused one: priceWad and _accountData decide what a refusal does.
    function _price(uint16 assetId)
        internal
        view
        returns (uint256 price, uint8 problem, int256 answer, uint256 updatedAt, uint256 heartbeat)
    {
        Asset storage a = assets[assetId];
        if (!a.listed) revert AssetNotListed(assetId);
        (, answer,, updatedAt,) = a.feed.latestRoundData();
        heartbeat = a.heartbeat;
        if (answer <= 0) problem = PRICE_INVALID;
        else if (updatedAt > block.timestamp || block.timestamp - updatedAt > heartbeat) problem = PRICE_STALE;
        else price = uint256(answer) * a.priceScale;
    }

    /// Hub.accountData. `strict`: a refused price reverts by name (priceWad); otherwise it ends the valuation with
    /// `usable` false (what a repayment or deposit that only settles an auction needs). Reads the price of each
    /// asset the account holds or owes, and of no other.
    function _accountData(address account, bool strict)
        internal
        view
        returns (
            bool usable,
            uint256 collateralValue,
            uint256 thresholdValue,
            uint256 borrowPower,
            uint256 debtValue,
            uint256 healthFactor
        )
    {
        uint256 n = collateralMarkets.length;
        for (uint256 i; i < n; ++i) {
            CollateralMarket memory m = collateralMarkets[i];
            uint256 amount = collateral[account][m.eid][m.assetId];
            if (amount == 0) continue;
            (bool ok, uint256 price) = _usablePrice(m.assetId, strict);
            if (!ok) return (false, 0, 0, 0, 0, 0);
            Asset storage a = assets[m.assetId];
            uint256 v = Math.mulDiv(amount, price, 10 ** a.decimals);
            collateralValue += v;
            thresholdValue += Math.mulDiv(v, a.liquidationThreshold, WAD);
            borrowPower += Math.mulDiv(v, a.ltv, WAD);
        }
        n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            uint16 d = debtAssetIds[i];
            uint256 amount = debt[account][d];
            if (amount == 0) continue;
            (bool ok, uint256 price) = _usablePrice(d, strict);
            if (!ok) return (false, 0, 0, 0, 0, 0);
            debtValue += Math.mulDiv(amount, price, 10 ** assets[d].decimals);
        }
        usable = true;
        healthFactor = debtValue == 0 ? type(uint256).max : Math.mulDiv(thresholdValue, WAD, debtValue);
    }

    function _usablePrice(uint16 assetId, bool strict) internal view returns (bool ok, uint256 price) {
        if (strict) return (true, priceWad(assetId));
        uint8 problem;
        (price, problem,,,) = _price(assetId);
        ok = problem == PRICE_USABLE;
    }

    function _debtAsset(uint16 assetId) internal view returns (Asset storage a) {
        a = assets[assetId];
        if (address(a.token) == address(0)) revert NotDebtAsset(assetId);
    }

    function _quoteTake(address account, uint16 debtAssetId, uint256 maxRepay, uint32 eid, uint16 collateralAssetId, uint256 bonus)
        internal
        view
        returns (uint256 repayAmount, uint256 seizeAmount)
    {
        Asset storage d = _debtAsset(debtAssetId);
        if (!isCollateralMarket[eid][collateralAssetId]) revert NotCollateralMarket(eid, collateralAssetId);
        Asset storage c = assets[collateralAssetId];
        uint256 debtPrice = priceWad(debtAssetId);
        uint256 collateralPrice = priceWad(collateralAssetId);

        repayAmount = Math.min(maxRepay, Math.mulDiv(debt[account][debtAssetId], auctionParams.closeFactor, WAD));
        uint256 repayValue = Math.mulDiv(repayAmount, debtPrice, 10 ** d.decimals);
        seizeAmount = Math.mulDiv(Math.mulDiv(repayValue, WAD + bonus, WAD), 10 ** c.decimals, collateralPrice);

        uint256 available = collateral[account][eid][collateralAssetId];
        if (seizeAmount > available) {
            // Not enough of this collateral: buy all of it and repay only what it is worth at the bonus,
            // rounding the repayment up so the protocol never gives collateral away.
            seizeAmount = available;
            repayValue = Math.mulDiv(Math.mulDiv(available, collateralPrice, 10 ** c.decimals), WAD, WAD + bonus);
            repayAmount = Math.mulDiv(repayValue, 10 ** d.decimals, debtPrice, Math.Rounding.Ceil);
        }
    }

    function _changeReplyCredit(address account, int256 delta) internal {
        uint256 credit = delta >= 0 ? replyCredit[account] + uint256(delta) : replyCredit[account] - uint256(-delta);
        replyCredit[account] = credit;
        emit ReplyCreditChanged(account, credit, delta);
    }

    function _changeCollateral(address account, uint32 eid, uint16 assetId, int256 delta, CollateralChange change) internal {
        uint256 before = collateral[account][eid][assetId];
        uint256 balance = delta >= 0 ? before + uint256(delta) : before - uint256(-delta);
        collateral[account][eid][assetId] = balance;
        if (before == 0 && balance != 0) ++collateralPositions[account];
        else if (before != 0 && balance == 0) --collateralPositions[account];
        emit CollateralUpdated(account, eid, assetId, balance, delta, change);
    }

    function _changeDebt(address account, uint16 assetId, int256 delta, DebtChange change) internal {
        uint256 balance = delta >= 0 ? debt[account][assetId] + uint256(delta) : debt[account][assetId] - uint256(-delta);
        debt[account][assetId] = balance;
        totalDebt[assetId] = delta >= 0 ? totalDebt[assetId] + uint256(delta) : totalDebt[assetId] - uint256(-delta);
        emit DebtUpdated(account, assetId, balance, delta, change);
    }

    /// Ends the account's auction once it is healthy or repaid; writes off debt left without collateral.
    /// A repayment or deposit must not fail on a price: while one the account needs is unusable (StalePrice,
    /// InvalidPrice) its auction stays as it is (takes still need usable prices) and is settled by a later call.
    function _settleAuction(address account) internal {
        Auction storage au = auctions[account];
        if (collateralPositions[account] == 0 && _hasDebt(account)) {
            _writeOff(account);
            return;
        }
        if (!au.active) return;
        (bool usable,,,, uint256 debtValue, uint256 hf) = _accountData(account, false);
        if (!usable) return;
        if (debtValue == 0) _endAuction(au, account, EndReason.Repaid);
        else if (hf >= WAD) _endAuction(au, account, EndReason.Healthy);
    }

    function _writeOff(address account) internal {
        uint256 n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            uint16 d = debtAssetIds[i];
            uint256 amount = debt[account][d];
            if (amount == 0) continue;
            uint256 covered = Math.min(amount, reserve[d]);
            reserve[d] -= covered;
            badDebt[d] += amount - covered;
            _changeDebt(account, d, -int256(amount), DebtChange.WriteOff);
            emit BadDebtWrittenOff(account, d, amount, covered, amount - covered);
        }
        Auction storage au = auctions[account];
        if (au.active) _endAuction(au, account, EndReason.BadDebt);
    }

    function _hasDebt(address account) internal view returns (bool) {
        uint256 n = debtAssetIds.length;
        for (uint256 i; i < n; ++i) {
            if (debt[account][debtAssetIds[i]] != 0) return true;
        }
        return false;
    }

    function _endAuction(Auction storage au, address account, EndReason reason) internal {
        au.active = false;
        emit AuctionEnded(au.id, account, reason);
    }
}
